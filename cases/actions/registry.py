"""Response action types as data: the one registry every other module reads.

Each type declares its label, its parameters (a strict serializer: an unknown key is a
400 naming it), whether it is destructive (destructive types need a lead's approval unless
the tenant says otherwise), which milestone its success implies (`contained` stamps the
case's `contained_at`; `remediation` counts towards the "mark remediated" proposal), and
who carries it out: the endpoint's agent, or — for directory accounts, which no agent
owns — a task for the identity team on the case.

    spec = ACTION_TYPES["kill_process"]
    parameters = spec.clean({"sha256": "…", "pid": 4242})   # ValidationError naming fields

Adding a type is one `ActionSpec` here (plus, for agents, what the agent does with it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

CONTAINED = "contained"
REMEDIATION = "remediation"
AGENT = "agent"
TASK = "task"

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
KB = re.compile(r"^KB\d{6,8}$", re.IGNORECASE)
PRODUCT_CODE = re.compile(r"^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$")
ACCOUNT = re.compile(r"^[^\x00-\x1f\"/\[\]:;|=,+*?<>]{1,256}$")
MAX_SCAN_PATHS = 50


class _Strict(serializers.Serializer):
    """Parameters are strict: a key the type does not take is refused, by name."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": "an object of parameters"})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: "unknown parameter" for key in unknown})
        return super().to_internal_value(data)


def _sha256(value: str) -> str:
    if not HEX64.match(value or ""):
        raise serializers.ValidationError("a SHA-256: 64 hex digits")
    return value.lower()


class _Path(serializers.CharField):
    """A file path on the endpoint (Windows or POSIX); no NUL, no control characters."""

    def __init__(self, **kwargs):
        super().__init__(max_length=1024, trim_whitespace=True, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if any(ord(c) < 32 for c in value):
            raise serializers.ValidationError("no control characters in a path")
        if not (value.startswith("/") or re.match(r"^[A-Za-z]:\\", value) or "%" in value[:1]):
            raise serializers.ValidationError(r"an absolute path (C:\… or /…)")
        return value


class KillProcess(_Strict):
    sha256 = serializers.CharField(help_text="the process image's SHA-256 (required)")
    pid = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31, help_text="only this process; else all"
    )
    process_name = serializers.CharField(required=False, max_length=260, allow_blank=True)

    def validate_sha256(self, value):
        return _sha256(value)


class QuarantineFile(_Strict):
    path = _Path()
    sha256 = serializers.CharField(help_text="quarantined only if the file still has this hash")

    def validate_sha256(self, value):
        return _sha256(value)


class NoParameters(_Strict):
    comment = serializers.CharField(required=False, max_length=500, allow_blank=True)


class UninstallApplication(_Strict):
    name = serializers.CharField(required=False, max_length=260)
    product_code = serializers.CharField(required=False, max_length=38)

    def validate_product_code(self, value):
        if not PRODUCT_CODE.match(value):
            raise serializers.ValidationError("an MSI product code like {XXXXXXXX-XXXX-…}")
        return value.upper()

    def validate(self, attrs):
        if not attrs.get("name") and not attrs.get("product_code"):
            raise serializers.ValidationError({"name": "give the name or the product_code"})
        return attrs


class DeployPatch(_Strict):
    package = serializers.CharField(required=False, max_length=260)
    kb = serializers.CharField(required=False, max_length=12)

    def validate_kb(self, value):
        if not KB.match(value):
            raise serializers.ValidationError("a knowledge-base id like KB5034441")
        return value.upper()

    def validate(self, attrs):
        if not attrs.get("package") and not attrs.get("kb"):
            raise serializers.ValidationError({"package": "give the package or the kb"})
        return attrs


class LocalAccount(_Strict):
    username = serializers.CharField(max_length=256)

    def validate_username(self, value):
        if not ACCOUNT.match(value):
            raise serializers.ValidationError("not a valid account name")
        return value


class ResetCredentials(_Strict):
    account = serializers.CharField(
        max_length=256, help_text=r"directory account: DOMAIN\user or user@domain"
    )

    def validate_account(self, value):
        if not ACCOUNT.match(value.replace("\\", "")) or value.count("\\") > 1:
            raise serializers.ValidationError(r"DOMAIN\user or user@domain")
        return value


class CloseConnection(_Strict):
    remote_ip = serializers.CharField(max_length=45)
    remote_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    pid = serializers.IntegerField(required=False, min_value=1, max_value=2**31)

    def validate_remote_ip(self, value):
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            raise serializers.ValidationError("an IPv4 or IPv6 address") from None


class YaraScan(_Strict):
    rule = serializers.JSONField(help_text="a YARA IOC id, or YARA source text")
    paths = serializers.ListField(
        child=_Path(), min_length=1, max_length=MAX_SCAN_PATHS, help_text="files or folders"
    )

    def validate_rule(self, value):
        """The rule sources the agent runs travel in the (signed) parameters."""
        from intel.models import IOC
        from intel.parsing import InvalidIOC, compile_yara
        from intel.services import yara_scan_payload

        if isinstance(value, int) and not isinstance(value, bool):
            iocs = list(IOC.objects.active().filter(type="yara", pk=value))
            if not iocs:
                raise serializers.ValidationError("no active YARA IOC with this id")
            return {"ioc": value, **_rules_of(yara_scan_payload(iocs=iocs))}
        if isinstance(value, str) and value.strip():
            try:
                compiled = compile_yara(value)
            except InvalidIOC as exc:
                raise serializers.ValidationError(str(exc)) from None
            payload = yara_scan_payload(iocs=[])
            payload["rules"] = [
                {"ioc": None, "key": "", "namespace": "adhoc", "source": compiled.source}
            ]
            return {"ioc": None, **_rules_of(payload)}
        raise serializers.ValidationError("a YARA IOC id or YARA source text")

    def validate(self, attrs):
        """Flatten: `rule` stays (the IOC id, or "source"), the rules to run sit beside it."""
        rule = attrs.pop("rule")
        return {"rule": rule.pop("ioc") or "source", **attrs, **rule}

    def to_representation(self, instance):
        return instance


def _rules_of(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in ("rules", "timeout_seconds", "externals")}


class CollectFile(_Strict):
    path = _Path()


@dataclass(frozen=True)
class ActionSpec:
    key: str
    label: str
    parameters: type[serializers.Serializer]
    destructive: bool
    milestone: str | None = None  # CONTAINED, REMEDIATION or None
    executor: str = AGENT  # AGENT or TASK
    summary: Callable[[dict[str, Any]], str] = lambda p: ""
    needs_case: bool = False  # its outcome lands on the case (a task, an evidence file)

    @property
    def runs_on_agent(self) -> bool:
        return self.executor == AGENT

    @property
    def needs_endpoint(self) -> bool:
        return self.executor == AGENT

    def clean(self, parameters: Any) -> dict[str, Any]:
        """Validated, normalised parameters; raises ValidationError {"parameters.x": …}."""
        serializer = self.parameters(data=parameters if parameters is not None else {})
        if not serializer.is_valid():
            errors = serializer.errors
            raise ValidationError({f"parameters.{k}": _text(v) for k, v in errors.items()})
        return {key: value for key, value in serializer.validated_data.items() if value != ""}

    def describe(self, parameters: dict[str, Any]) -> str:
        """A short human line for the parameters (timeline, lists)."""
        return self.summary(parameters or {})


def _text(message: Any) -> str:
    if isinstance(message, list | tuple):
        return " ".join(_text(m) for m in message)
    if isinstance(message, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in message.items())
    return str(message)


def _short(value: str, size: int = 12) -> str:
    return value[:size] + "…" if len(value) > size else value


ACTION_TYPES: dict[str, ActionSpec] = {
    spec.key: spec
    for spec in (
        ActionSpec(
            "kill_process",
            "Kill process",
            KillProcess,
            True,
            CONTAINED,
            summary=lambda p: (
                f"sha256 {_short(p.get('sha256', ''))}"
                + (f" pid {p['pid']}" if p.get("pid") else " everywhere on the endpoint")
            ),
        ),
        ActionSpec(
            "quarantine_file",
            "Quarantine file",
            QuarantineFile,
            True,
            CONTAINED,
            summary=lambda p: p.get("path", ""),
        ),
        ActionSpec("isolate_endpoint", "Isolate endpoint", NoParameters, True, CONTAINED),
        ActionSpec("release_isolation", "Release isolation", NoParameters, False),
        ActionSpec(
            "uninstall_application",
            "Uninstall application",
            UninstallApplication,
            True,
            REMEDIATION,
            summary=lambda p: p.get("name") or p.get("product_code", ""),
        ),
        ActionSpec(
            "deploy_patch",
            "Deploy patch / package",
            DeployPatch,
            True,
            REMEDIATION,
            summary=lambda p: " ".join(v for v in (p.get("kb"), p.get("package")) if v),
        ),
        ActionSpec(
            "delete_local_account",
            "Delete local account",
            LocalAccount,
            True,
            REMEDIATION,
            summary=lambda p: p.get("username", ""),
        ),
        ActionSpec(
            "demote_local_account",
            "Demote local account (remove from administrators)",
            LocalAccount,
            True,
            REMEDIATION,
            summary=lambda p: p.get("username", ""),
        ),
        ActionSpec(
            "reset_credentials",
            "Reset credentials (directory account)",
            ResetCredentials,
            True,
            REMEDIATION,
            executor=TASK,
            summary=lambda p: p.get("account", ""),
            needs_case=True,
        ),
        ActionSpec(
            "close_connection",
            "Close connection / block port",
            CloseConnection,
            True,
            summary=lambda p: (
                p.get("remote_ip", "") + (f":{p['remote_port']}" if p.get("remote_port") else "")
            ),
        ),
        ActionSpec(
            "yara_scan",
            "Run a YARA scan",
            YaraScan,
            False,
            summary=lambda p: (
                f"{len(p.get('rules', []))} rule set(s) over " + ", ".join(p.get("paths", [])[:3])
            ),
        ),
        ActionSpec(
            "collect_file",
            "Collect a file as evidence",
            CollectFile,
            False,
            summary=lambda p: p.get("path", ""),
            needs_case=True,
        ),
    )
}

ACTION_TYPE_CHOICES: list[tuple[str, str]] = [(k, s.label) for k, s in ACTION_TYPES.items()]
DESTRUCTIVE_TYPES: tuple[str, ...] = tuple(k for k, s in ACTION_TYPES.items() if s.destructive)
CONTAINMENT_TYPES: tuple[str, ...] = tuple(
    k for k, s in ACTION_TYPES.items() if s.milestone == CONTAINED
)
REMEDIATION_TYPES: tuple[str, ...] = tuple(
    k for k, s in ACTION_TYPES.items() if s.milestone == REMEDIATION
)


def spec_for(action_type: str) -> ActionSpec:
    try:
        return ACTION_TYPES[action_type]
    except KeyError:
        raise ValidationError(
            {"type": f"{action_type!r} is not one of {', '.join(ACTION_TYPES)}"}
        ) from None
