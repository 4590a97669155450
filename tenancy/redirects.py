"""Where a browser form goes back to: its `next`, if that stays on this site.

A `next` taken as it came (`redirect(request.POST.get("next"))`, or a check for a leading
"/", which `//evil.example` passes) is an open redirect: a page of ours sending the
analyst to any site, with our address in the link.
"""

from __future__ import annotations

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, fallback: str) -> str:
    """The request's `next` (form, then query string) when it is on this host, else
    `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
