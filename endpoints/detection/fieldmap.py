r"""Sigma logsources and field names, translated to Stopclock record kinds and columns.

A Sigma rule names a *logsource* (``category: process_creation``) and *fields* in Sysmon /
Windows event vocabulary (``Image``, ``TargetObject``). Our agents send observation records
(see `endpoints.observation_fields`), so every rule is read through this table:

* the logsource says which record ``kind`` values the rule applies to, plus an implicit
  *guard* some kinds must pass (a ``process_event`` only counts for ``process_creation``
  when its ``action`` is ``start``);
* each Sigma field maps onto one observation column, sometimes with a value translation
  (``Initiated: 'true'`` is ``direction = outbound``). A field that is not in the table
  makes the whole rule unsupported: silently never matching would look like coverage.

Custom logsources: ``product: stopclock`` with ``category: <kind>`` (any of
`observation_fields.KINDS`, e.g. ``autorun``) applies to records of that kind and uses the
observation column names themselves as Sigma field names (``autorun_type``, ``header_hex``).
That is how rules reach telemetry Sysmon has no event for (autoruns, file header bytes).

Registry keys are stored as ``hklm\software\...`` / ``hku\<sid>\...`` (lower case, short
hive names, as Sysmon writes them). Rule values are rewritten so rules written with other
spellings still match; see `registry_key_patterns`. The ingestion side should store keys
through `normalise_registry_key`, so both ends share one definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from endpoints.observation_fields import FIELD_BY_NAME, FIELDS, KINDS

from .errors import UnsupportedRule
from .modifiers import STAR, Part, Pattern, normalise_pattern


@dataclass(frozen=True)
class FieldSpec:
    """Where a Sigma field's values live in our records.

    ``column`` is the observation column. ``translate`` maps a plain (wildcard-free,
    lower-cased) Sigma value into our vocabulary and raises `UnsupportedRule` for a value
    it does not know. ``hashes`` marks Sysmon's composite ``Hashes`` field
    (``SHA256=…,IMPHASH=…``) whose parts land in several columns. ``constant`` makes a
    virtual field whose value is fixed for the logsource (``EventID`` of a security logon).
    """

    column: str | None
    translate: Callable[[str], str] | None = None
    hashes: bool = False
    constant: int | str | None = None


@dataclass(frozen=True)
class Guard:
    """An implicit condition: ``column`` must hold one of ``values`` (None: absent)."""

    column: str
    values: frozenset[str | None]


@dataclass(frozen=True)
class LogsourceMap:
    """Which kinds a logsource covers and how its field names resolve."""

    label: str
    kinds: Mapping[str, Guard | None]
    fields: Mapping[str, FieldSpec]
    _folded: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Field names are matched case-insensitively as a fallback: rule authors and
        # pipelines disagree on `Imphash` vs `IMPHASH`, never on meaning.
        object.__setattr__(self, "_folded", {k.lower(): v for k, v in self.fields.items()})

    def field(self, name: str) -> FieldSpec:
        spec = self.fields.get(name) or self._folded.get(name.lower())
        if spec is None:
            raise UnsupportedRule(f"field '{name}' is not mapped for logsource {self.label}")
        return spec


# -- value translations ------------------------------------------------------------------


def _lookup(field_name: str, table: Mapping[str, str], passthrough: bool = False):
    """A translation that refuses values it does not know (unless ``passthrough``)."""

    def translate(value: str) -> str:
        if value in table:
            return table[value]
        if passthrough:
            return value
        known = ", ".join(sorted(table))
        raise UnsupportedRule(f"value '{value}' of field '{field_name}' has no mapping ({known})")

    return translate


# Sysmon writes integrity levels as words, Security 4688 as mandatory-label SIDs.
_INTEGRITY_SIDS = {
    "s-1-16-0": "untrusted",
    "s-1-16-4096": "low",
    "s-1-16-8192": "medium",
    "s-1-16-8448": "medium",
    "s-1-16-12288": "high",
    "s-1-16-16384": "system",
    "s-1-16-20480": "protected",
}
_DIRECTION = {"true": "outbound", "false": "inbound"}
_REGISTRY_EVENT_TYPES = {
    "createkey": "create",
    "deletekey": "delete",
    "renamekey": "rename",
    "setvalue": "set",
    "deletevalue": "delete",
}


def _col(column: str) -> FieldSpec:
    return FieldSpec(column)


# -- field tables --------------------------------------------------------------------------

# The process that did it: every Sysmon event carries its image, and our records of every
# kind may carry the acting process's context.
_PROCESS_CONTEXT = {
    "Image": _col("process_path"),
    "ProcessId": _col("pid"),
    "ParentImage": _col("parent_path"),
    "ParentProcessId": _col("ppid"),
    "CommandLine": _col("command_line"),
    "ParentCommandLine": _col("parent_command_line"),
    "User": _col("user_name"),
    "IntegrityLevel": FieldSpec(
        "integrity_level", translate=_lookup("IntegrityLevel", _INTEGRITY_SIDS, passthrough=True)
    ),
    "CurrentDirectory": _col("current_directory"),
    "LogonId": _col("logon_id"),
}

# Hash columns describe the record's own object: the image of a process record, the file
# of a file record, the driver of a driver record.
_HASHES = {
    "Hashes": FieldSpec(None, hashes=True),
    "md5": _col("md5"),
    "sha1": _col("sha1"),
    "sha256": _col("sha256"),
    "Imphash": _col("imphash"),
}

_PE_METADATA = {
    "OriginalFileName": _col("original_file_name"),
    "Description": _col("pe_description"),
    "Product": _col("pe_product"),
    "Company": _col("pe_company"),
    "FileVersion": _col("pe_file_version"),
}

_FILE = {"TargetFilename": _col("file_path")}

_REGISTRY = {
    "TargetObject": _col("registry_key"),
    "Details": _col("registry_value"),
    "EventType": FieldSpec("action", translate=_lookup("EventType", _REGISTRY_EVENT_TYPES)),
}

_NETWORK = {
    "DestinationIp": _col("remote_ip"),
    "DestinationPort": _col("remote_port"),
    "DestinationHostname": _col("remote_hostname"),
    "SourceIp": _col("local_ip"),
    "SourcePort": _col("local_port"),
    "Initiated": FieldSpec("direction", translate=_lookup("Initiated", _DIRECTION)),
    "Protocol": _col("protocol"),
}

_DNS = {"QueryName": _col("dns_query"), "QueryResults": _col("dns_answers")}

_LOGON = {
    "EventID": FieldSpec(None, constant=4624),
    "LogonType": _col("logon_type"),
    "IpAddress": _col("source_ip"),
    "WorkstationName": _col("source_hostname"),
    "TargetUserName": _col("target_user_name"),
    "AuthenticationPackageName": _col("auth_package"),
    "ProcessName": _col("process_path"),
}

_SERVICE_INSTALL = {
    "EventID": FieldSpec(None, constant=7045),
    "Provider_Name": FieldSpec(None, constant="Service Control Manager"),
    "ServiceName": _col("item_name"),
    "ImagePath": _col("target_path"),
}

_DRIVER = {
    "ImageLoaded": _col("target_path"),
    "Signature": _col("signer"),
    **_HASHES,
}


def _action(*values: str | None) -> Guard:
    return Guard("action", frozenset(values))


_PROCESS_KINDS = {"process": None, "process_event": _action("start")}

# category -> (kinds with guards, fields). Product must be `windows` or absent.
_CATEGORIES: dict[str, tuple[Mapping[str, Guard | None], Mapping[str, FieldSpec]]] = {
    "process_creation": (_PROCESS_KINDS, {**_PROCESS_CONTEXT, **_PE_METADATA, **_HASHES}),
    # Sysmon's file_event is FileCreate (a new or overwritten file); a record without an
    # action is a file seen on disk, which is at least as interesting.
    "file_event": ({"file": _action("create", "modify", None)}, {**_PROCESS_CONTEXT, **_FILE}),
    "file_change": ({"file": _action("modify")}, {**_PROCESS_CONTEXT, **_FILE}),
    "file_rename": ({"file": _action("rename")}, {**_PROCESS_CONTEXT, **_FILE}),
    "file_delete": ({"file": _action("delete")}, {**_PROCESS_CONTEXT, **_FILE}),
    "registry_set": ({"registry": _action("set")}, {**_PROCESS_CONTEXT, **_REGISTRY}),
    "registry_add": ({"registry": _action("create")}, {**_PROCESS_CONTEXT, **_REGISTRY}),
    "registry_delete": ({"registry": _action("delete")}, {**_PROCESS_CONTEXT, **_REGISTRY}),
    "registry_event": ({"registry": None}, {**_PROCESS_CONTEXT, **_REGISTRY}),
    "network_connection": ({"network": None}, {**_PROCESS_CONTEXT, **_NETWORK}),
    "dns_query": ({"dns": None}, {**_PROCESS_CONTEXT, **_DNS}),
    "driver_load": ({"driver": None}, _DRIVER),
    # Not a SigmaHQ category: lets a rule say "a logon" without naming the Security log.
    "logon": ({"logon": None}, _LOGON),
}

# product windows, service -> (kinds, fields): the event-log sources we have records for.
_SERVICES: dict[str, tuple[Mapping[str, Guard | None], Mapping[str, FieldSpec]]] = {
    "security": ({"logon": None}, _LOGON),  # 4624 successful logon
    "system": ({"autorun": Guard("autorun_type", frozenset({"service"}))}, _SERVICE_INSTALL),
}

CUSTOM_PRODUCT = "stopclock"

# Custom logsources speak our own column names; timestamps are not matchable values.
_OWN_COLUMNS = {f.name: FieldSpec(f.name) for f in FIELDS if f.type != "ts"}


def resolve_logsource(
    category: str | None, product: str | None, service: str | None
) -> LogsourceMap:
    """The kinds and field table for a Sigma logsource, or `UnsupportedRule`."""
    if product == CUSTOM_PRODUCT:
        if service is not None or category not in KINDS:
            raise UnsupportedRule(
                f"custom logsource product {CUSTOM_PRODUCT} needs category one of "
                f"{', '.join(KINDS)} and no service"
            )
        return LogsourceMap(
            f"product {CUSTOM_PRODUCT} category {category}", {category: None}, _OWN_COLUMNS
        )
    if product not in (None, "windows"):
        raise UnsupportedRule(f"logsource product '{product}' is not collected")
    if category is not None:
        if service is not None:
            raise UnsupportedRule(
                f"logsource category {category} with service {service} is not mapped"
            )
        if category not in _CATEGORIES:
            raise UnsupportedRule(f"logsource category {category} has no telemetry kind")
        kinds, fields = _CATEGORIES[category]
        return LogsourceMap(f"category {category}", kinds, fields)
    if service in _SERVICES:
        kinds, fields = _SERVICES[service]
        return LogsourceMap(f"service {service}", kinds, fields)
    raise UnsupportedRule(f"logsource service '{service}' has no telemetry kind")


def column_type(column: str) -> str:
    """The observation type of a column (``lstr``, ``str``, ``int``, ``ip``, ``hex64``...)."""
    return FIELD_BY_NAME[column].type


# -- registry keys ---------------------------------------------------------------------------

_HKCU = (("hkcu\\",), ("hku\\", STAR, "\\"))
_HKCR = (("hkcr\\",), ("hklm\\software\\classes\\",), ("hku\\", STAR, "_classes\\"))
# Rule spellings of a hive prefix (lower case) -> the stored prefixes they stand for.
# HKCU and HKCR are views: Sysmon records HKCU writes under HKU\<sid>\ and HKCR writes
# under HKLM\SOFTWARE\Classes\ or HKU\<sid>_Classes\, so one rule value becomes several.
_HIVE_ALIASES: tuple[tuple[str, tuple[tuple[Part, ...], ...]], ...] = (
    ("hkey_local_machine\\", (("hklm\\",),)),
    ("\\registry\\machine\\", (("hklm\\",),)),
    ("hklm:\\", (("hklm\\",),)),
    ("hkey_users\\", (("hku\\",),)),
    ("\\registry\\user\\", (("hku\\",),)),
    ("hku:\\", (("hku\\",),)),
    ("hkey_current_user\\", _HKCU),
    ("hkcu:\\", _HKCU),
    ("hkcu\\", _HKCU),
    ("hkey_classes_root\\", _HKCR),
    ("hkcr:\\", _HKCR),
    ("hkcr\\", _HKCR),
)

# Stored keys never use these long forms; the ingestion rewrites them to the short hive.
_STORED_PREFIXES = (
    ("hkey_local_machine\\", "hklm\\"),
    ("\\registry\\machine\\", "hklm\\"),
    ("hkey_users\\", "hku\\"),
    ("\\registry\\user\\", "hku\\"),
    ("hkey_current_user\\", "hkcu\\"),
    ("hkey_classes_root\\", "hkcr\\"),
)


def normalise_registry_key(key: str) -> str:
    r"""The stored form of a registry key: lower case, short hive (``hklm\software\...``)."""
    key = key.strip().lower()
    for long, short in _STORED_PREFIXES:
        if key.startswith(long):
            return short + key[len(long) :]
    return key


def registry_key_patterns(pattern: Pattern) -> list[Pattern]:
    r"""Rewrite one lower-cased rule value for a ``registry_key`` column.

    Only a value anchored at its start can name a hive, so only the leading literal is
    rewritten: ``HKEY_LOCAL_MACHINE\`` and ``\REGISTRY\MACHINE\`` become ``hklm\``,
    ``HKCU\`` becomes ``hkcu\`` or ``hku\*\``, ``HKCR\`` the three places classes live.
    A value starting with a bare ``\`` (``\SOFTWARE\Microsoft\...``) is hive-relative and
    gets a leading ``*``. Values starting with a wildcard (contains / endswith) are left
    alone: they already match wherever the text appears.
    """
    if not pattern or not isinstance(pattern[0], str):
        return [pattern]
    head, rest = pattern[0], list(pattern[1:])
    for alias, replacements in _HIVE_ALIASES:
        if head.startswith(alias):
            tail = head[len(alias) :]
            return [normalise_pattern((*r, tail, *rest), lower=False) for r in replacements]
    if head.startswith("\\") and not head.startswith("\\registry\\"):
        return [normalise_pattern((STAR, head, *rest), lower=False)]
    return [pattern]
