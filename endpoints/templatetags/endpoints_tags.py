"""Template helpers for observations: a one-line summary per kind, and a time format."""

from __future__ import annotations

from django import template

register = template.Library()


def _join(*parts) -> str:
    return " ".join(str(p) for p in parts if p not in (None, ""))


def _get(obs, name):
    return obs.get(name) if isinstance(obs, dict) else getattr(obs, name, None)


@register.filter
def obs_summary(obs) -> str:
    """What an observation says, in one line an analyst can scan."""
    g = lambda name: _get(obs, name)  # noqa: E731 - a short reader, local on purpose
    kind = g("kind")
    if kind in ("process", "process_event"):
        parent = f"← {g('parent_name')}" if g("parent_name") else ""
        return _join(g("action"), g("process_name"), f"pid {g('pid')}" if g("pid") else "",
                     parent, "·", g("command_line") or g("process_path"))  # fmt: skip
    if kind == "autorun":
        return _join(g("action"), g("autorun_type"), g("item_name"), "→", g("target_path"),
                     g("arguments"))  # fmt: skip
    if kind == "driver":
        return _join(g("item_name"), g("target_path"), g("signer") and f"({g('signer')})")
    if kind == "file":
        size = f"{g('file_size')} B" if g("file_size") is not None else ""
        return _join(g("action"), g("file_path"), size, "by", g("process_name"))
    if kind == "network":
        remote = f"{g('remote_ip')}:{g('remote_port')}" if g("remote_ip") else ""
        return _join(g("process_name"), g("direction"), g("protocol"), remote,
                     g("remote_hostname"))  # fmt: skip
    if kind == "logon":
        source = g("source_ip") or g("source_hostname")
        return _join(f"type {g('logon_type')}", g("target_user_name"),
                     source and f"from {source}", g("auth_package"))  # fmt: skip
    if kind == "registry":
        return _join(g("action"), g("registry_key"), "=", g("registry_value"), "by",
                     g("process_name"))  # fmt: skip
    if kind == "dns":
        return _join(g("process_name"), "asked", g("dns_query"), "→", g("dns_answers"))
    return kind or ""


@register.filter
def is_process(obs) -> bool:
    return _get(obs, "kind") in ("process", "process_event") and _get(obs, "pid") is not None
