"""Outbound HTTP that a tenant can point somewhere (webhooks, intel feeds): the SSRF guard.

A tenant types a URL; Stopclock's servers then connect to it. Without a guard that URL could
be `http://127.0.0.1:6379/`, `http://169.254.169.254/latest/meta-data/` or a host on the
private network. So every outbound request goes through here:

- only `http`/`https`, no credentials in the URL;
- the host is resolved once, and **every** address must be public: loopback, private,
  link-local, shared (CGNAT), multicast, reserved and unspecified ranges are refused,
  IPv4-mapped IPv6 included;
- the connection is made to the address that was checked (the Host header and TLS SNI /
  certificate check still use the name), so DNS cannot answer differently a moment later
  (rebinding);
- redirects are never followed: a 3xx is returned to the caller as a failure to record;
- connect and read timeouts, a deadline on the whole exchange (a server that trickles its
  answer a byte at a time never trips a read timeout: at `DEADLINE_FACTOR` times the
  timeout its connection is cut), and a cap on how much of the response is read.

A tenant admin can allow internal destinations explicitly with the per-tenant setting
`tenant.setting("tenancy", "outbound_allowlist", [])`: exact host names (case-insensitive)
or IP networks in CIDR form ("10.20.0.0/16", "127.0.0.1").

    from tenancy.outbound import post_json, OutboundRefused, allowlist_for
    response = post_json(url, body_bytes, headers, timeout=10, allowlist=allowlist_for(tenant))
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3

MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
DEADLINE_FACTOR = 3  # the whole exchange: at most this many timeouts
USER_AGENT = "Stopclock/1 (+outbound)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(ValueError):
    """The URL may not be contacted (scheme, credentials, or a non-public address)."""


@dataclass(frozen=True)
class Target:
    """A checked destination: what to connect to, and what to call it."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def allowlist_for(tenant: Any) -> list[str]:
    """The tenant's admin-maintained allowlist of internal destinations."""
    value = tenant.setting("tenancy", "outbound_allowlist", []) if tenant is not None else []
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


def _parse_allowlist(entries: Iterable[str]) -> tuple[set[str], list[IPNetwork]]:
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return hosts, networks


def is_public(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_unspecified
    )


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"cannot resolve {host!r}") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_url(url: str, *, allowlist: Iterable[str] = ()) -> Target:
    """Validate `url` and resolve its host; raise OutboundRefused if it may not be contacted."""
    if not isinstance(url, str) or len(url) > 2000:
        raise OutboundRefused("not a URL")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise OutboundRefused("only http and https URLs are allowed")
    if parts.username or parts.password:
        raise OutboundRefused("credentials in the URL are not allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise OutboundRefused("the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundRefused("invalid port") from exc
    allowed_hosts, allowed_networks = _parse_allowlist(allowlist)
    addresses = _resolve(host, port)
    if not addresses:
        raise OutboundRefused(f"cannot resolve {host!r}")
    if host not in allowed_hosts:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if is_public(address):
                continue
            if any(address in network for network in allowed_networks):
                continue
            raise OutboundRefused(
                f"{host} resolves to {address}, a non-public address; an admin can allow it "
                "in the tenant's outbound allowlist"
            )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    name = f"[{target.host}]" if ":" in target.host else target.host
    return name if target.port == default else f"{name}:{target.port}"


class _Deadline:
    """Cuts the connections of one request when its time is up.

    Timeouts bound each connect and each read; a server sending a byte before every read
    timeout would hold the caller (a worker) for ever. A timer shuts the socket down
    instead, which ends the read blocked on it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True
        self.timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)
            expired = self.expired
        if expired:
            self._shut(sock)

    def _cut(self) -> None:
        with self.lock:
            self.expired = True
            sockets = list(self.sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self.timer.cancel()


def _watched(connection_class: type, deadline: _Deadline) -> type:
    """The pool's connection class, handing each socket it opens to the deadline."""

    class Watched(connection_class):
        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    return Watched


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allowlist: Iterable[str] = (),
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> OutboundResponse:
    """One HTTP request to a checked, pinned address; never follows redirects.

    `timeout` bounds the connect and each read; the whole exchange is cut after
    `DEADLINE_FACTOR * timeout` seconds (a `ReadTimeoutError`).

    Raises OutboundRefused for a forbidden URL and urllib3's errors (subclasses of
    `urllib3.exceptions.HTTPError`) for network failures and timeouts.
    """
    target = check_url(url, allowlist=allowlist)
    address = target.addresses[0]
    pool_kwargs: dict[str, Any] = {
        "timeout": urllib3.Timeout(connect=min(CONNECT_TIMEOUT, timeout), read=timeout),
        "retries": False,
        "maxsize": 1,
    }
    if target.scheme == "https":
        pool_cls = urllib3.HTTPSConnectionPool
        pool_kwargs.update(
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool_cls = urllib3.HTTPConnectionPool
    send_headers = {"User-Agent": USER_AGENT, **(headers or {}), "Host": _host_header(target)}
    started = time.monotonic()
    pool = pool_cls(address, target.port, **pool_kwargs)
    deadline = _Deadline(DEADLINE_FACTOR * timeout)
    pool.ConnectionCls = _watched(pool.ConnectionCls, deadline)
    try:
        response = pool.urlopen(
            method,
            target.path,
            body=body,
            headers=send_headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            release_conn=False,
        )
        try:
            content = response.read(max_bytes, decode_content=True) or b""
        finally:
            response.release_conn()
            response.close()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if deadline.expired:  # the cut connection surfaces as a protocol error: say why
            raise urllib3.exceptions.ReadTimeoutError(
                pool, url, f"no complete answer within {deadline.seconds:g} s"
            ) from exc
        raise
    finally:
        deadline.cancel()
        pool.close()
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return OutboundResponse(
        status=response.status,
        headers={key.lower(): value for key, value in response.headers.items()},
        body=content,
        elapsed_ms=elapsed_ms,
    )


def post_json(
    url: str,
    body: bytes | Mapping[str, Any] | list,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    allowlist: Iterable[str] = (),
) -> OutboundResponse:
    """POST a JSON body (bytes are sent as they are, so a signature over them holds)."""
    if not isinstance(body, bytes):
        body = json.dumps(body, separators=(",", ":"), default=str).encode()
    return request(
        "POST",
        url,
        body=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=timeout,
        allowlist=allowlist,
    )
