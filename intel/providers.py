"""Hash reputation providers: the local store, and external VirusTotal-style HTTP APIs.

A provider answers "what is known about this hash?" with a `Verdict`, or None when it does
not know. The local store (fed by the feeds) is always asked first and is the only one on
by default. An external provider is a `ReputationProvider` row an admin enabled; it is
called through the outbound guard with its own timeout, its answers are cached (Django
cache, keys prefixed with the tenant) and its calls are rate-limited per minute, because
public APIs allow a handful of look-ups a minute and ban keys that ask for more.

The HTTP shape is VirusTotal v3's: `GET {base_url}/files/{hash}` with an `x-apikey`
header answers `{"data": {"attributes": {"last_analysis_stats": {"malicious": n, ...}}}}`;
404 means unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.core.cache import cache
from django.utils import timezone

from intel.models import Reputation, ReputationProvider
from tenancy.context import require_tenant

from .outbound import GuardedSession, OutboundRefused

HASH_TYPE_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}


class ProviderUnavailable(Exception):
    """The provider could not answer now (rate limit, timeout, error): try again later."""


@dataclass(frozen=True)
class Verdict:
    hash: str
    hash_type: str
    verdict: str  # malicious, suspicious, clean, unknown
    detections: int | None = None
    engines: int | None = None
    source: str = ""
    provider: str = "local"
    cached: bool = False

    @property
    def ratio(self) -> str:
        return f"{self.detections}/{self.engines}" if self.engines else ""


def hash_type(value: str) -> str | None:
    text = value.strip().lower()
    if not text or any(ch not in "0123456789abcdef" for ch in text):
        return None
    return HASH_TYPE_BY_LENGTH.get(len(text))


def local_lookup(hashes: list[str]) -> dict[str, Verdict]:
    """The local store's verdicts for many hashes, in one query."""
    found = {}
    for row in Reputation.objects.filter(hash__in=hashes):
        found[row.hash] = Verdict(
            row.hash, row.hash_type, row.verdict, row.detections, row.engines, row.source
        )
    return found


def _cache_key(provider: ReputationProvider, value: str) -> str:
    return f"t{provider.tenant_id}:intel:reputation:{provider.pk}:{value}"


def _rate_key(provider: ReputationProvider) -> str:
    minute = timezone.now().strftime("%Y%m%d%H%M")
    return f"t{provider.tenant_id}:intel:ratelimit:{provider.pk}:{minute}"


def _take_token(provider: ReputationProvider) -> bool:
    key = _rate_key(provider)
    cache.add(key, 0, timeout=70)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=70)
        used = 1
    return used <= provider.rate_limit_per_minute


class HttpProvider:
    """One external provider row, spoken to in VirusTotal v3's dialect."""

    def __init__(self, row: ReputationProvider) -> None:
        self.row = row

    def lookup(self, value: str) -> Verdict | None:
        row = self.row
        kind = hash_type(value)
        if kind is None:
            return None
        cached = cache.get(_cache_key(row, value))
        if cached is not None:
            return None if cached == "unknown" else Verdict(**{**cached, "cached": True})
        if not _take_token(row):
            raise ProviderUnavailable(
                f"{row.name}: rate limit of {row.rate_limit_per_minute} look-ups a minute reached"
            )
        url = f"{row.base_url.rstrip('/')}/files/{value}"
        session = GuardedSession(timeout=float(row.timeout_seconds))
        try:
            response = session.get(
                url, headers={"x-apikey": row.api_key, "Accept": "application/json"}
            )
        except OutboundRefused as exc:
            raise ProviderUnavailable(f"{row.name}: {exc}") from None
        except requests.Timeout:
            raise ProviderUnavailable(
                f"{row.name}: timed out after {row.timeout_seconds} s"
            ) from None
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"{row.name}: {type(exc).__name__}") from None
        finally:
            session.close()
        if response.status_code == 404:
            cache.set(_cache_key(row, value), "unknown", timeout=row.cache_seconds)
            return None
        if response.status_code == 429:
            raise ProviderUnavailable(f"{row.name}: the provider says too many requests (429)")
        if response.status_code != 200:
            raise ProviderUnavailable(f"{row.name}: HTTP {response.status_code}")
        try:
            stats = response.json()["data"]["attributes"]["last_analysis_stats"]
            malicious = int(stats.get("malicious", 0))
            suspicious = int(stats.get("suspicious", 0))
            engines = sum(int(v) for v in stats.values() if isinstance(v, int))
        except (ValueError, KeyError, TypeError):
            raise ProviderUnavailable(
                f"{row.name}: the answer is not in the expected shape"
            ) from None
        if malicious >= row.malicious_threshold:
            verdict = "malicious"
        elif malicious or suspicious:
            verdict = "suspicious"
        else:
            verdict = "clean"
        result = Verdict(value, kind, verdict, malicious, engines, row.name, row.name)
        payload = {
            k: getattr(result, k)
            for k in ("hash", "hash_type", "verdict", "detections", "engines", "source", "provider")
        }
        cache.set(_cache_key(row, value), payload, timeout=row.cache_seconds)
        return result


def external_providers() -> list[HttpProvider]:
    require_tenant()
    return [HttpProvider(row) for row in ReputationProvider.objects.filter(enabled=True)]
