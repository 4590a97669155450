"""Outbound HTTP for TAXII feeds and reputation providers, through the platform's SSRF guard.

`taxii2-client` and our provider client speak `requests`; this module gives them a
`requests.Session` whose only transport is `tenancy.outbound.request`: the same address
policy as webhooks (loopback, private, link-local, reserved… refused unless the tenant's
admin allowlisted them in `tenant.settings["tenancy"]["outbound_allowlist"]`), the
connection pinned to the address that was checked, no redirects, and connect/read
timeouts. Network failures surface as the usual `requests` exceptions.
"""

from __future__ import annotations

import requests
import urllib3
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from tenancy import outbound
from tenancy.context import current_tenant
from tenancy.outbound import OutboundRefused

__all__ = ["GuardedSession", "OutboundRefused", "check_url"]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # one TAXII page


def allowlist() -> list[str]:
    return outbound.allowlist_for(current_tenant())


def check_url(url: str) -> None:
    """Raise `OutboundRefused` unless the tenant may reach `url` (scheme, address policy)."""
    outbound.check_url(url, allowlist=allowlist())


class _GuardedAdapter(BaseAdapter):
    """A requests transport that sends through `tenancy.outbound.request`."""

    def __init__(self, timeout: float, max_bytes: int) -> None:
        super().__init__()
        self.timeout = timeout
        self.max_bytes = max_bytes

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if isinstance(timeout, tuple):
            timeout = max(t for t in timeout if t is not None)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        try:
            answer = outbound.request(
                request.method,
                request.url,
                body=body,
                headers=dict(request.headers),
                timeout=float(timeout or self.timeout),
                allowlist=allowlist(),
                max_bytes=self.max_bytes,
            )
        except urllib3.exceptions.TimeoutError as exc:
            raise requests.Timeout(str(exc), request=request) from None
        except urllib3.exceptions.HTTPError as exc:
            raise requests.ConnectionError(str(exc), request=request) from None
        except OSError as exc:
            raise requests.ConnectionError(str(exc), request=request) from None
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.body
        response.url = request.url
        response.request = request
        response.reason = ""
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        return response

    def close(self) -> None:
        pass


class GuardedSession(requests.Session):
    """A session that can only talk through the guard; remembers its last response."""

    def __init__(self, timeout: float, max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        super().__init__()
        adapter = _GuardedAdapter(timeout, max_bytes)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.max_redirects = 0
        self.trust_env = False  # no proxies or .netrc from the worker's environment
        self.headers["User-Agent"] = outbound.USER_AGENT
        self.last_response: requests.Response | None = None

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        if response.is_redirect:
            location = response.headers.get("Location")
            raise OutboundRefused(f"{url} redirects to {location}; redirects are not followed")
        return response
