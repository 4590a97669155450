"""The one definition of what an endpoint observation carries.

Agents send records with these keys; the `Observation` model's columns, the telemetry
validator, the Sigma field mapping, the IOC sweep and the data generator all read this
module, so a field is added in one place.

Matching columns (paths, names, hashes, domains, registry keys) are stored normalised:
lower-case, Windows paths with backslashes. Free text that an analyst reads (command
lines, PE version strings, registry data) keeps its original case; matching on it is
case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = (
    "process",  # a process seen running (snapshot) or started
    "process_event",  # start/stop with parent -> child
    "autorun",  # persistence: service, scheduled task, run key, WMI, COM, startup folder
    "driver",
    "file",
    "network",
    "logon",
    "registry",
    "dns",
)

KIND_CHOICES = [(kind, kind.replace("_", " ")) for kind in KINDS]

AUTORUN_TYPES = (
    "service",
    "scheduled_task",
    "run_key",
    "wmi_subscription",
    "com_object",
    "startup_folder",
)

# str: free text (max_length given), lstr: normalised lower-case text, int, ip, ts (aware
# datetime, ISO 8601 in JSON), hex32/hex40/hex64: lower-case hex digests, hexbytes: hex of
# up to 16 bytes, bool.
Type = str

# Integers are stored as 64-bit; a field narrows that with `min_value` / `max_value`.
INT_MIN, INT_MAX = 0, 2**63 - 1


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    max_length: int | None = None
    help: str = ""
    min_value: int = INT_MIN
    max_value: int = INT_MAX


FIELDS: tuple[Field, ...] = (
    # -- the process that did it (every kind may carry these) -------------------------
    Field("pid", "int", max_value=2**32 - 1),
    Field("ppid", "int", max_value=2**32 - 1),
    Field("process_name", "lstr", 260, "basename of the image, e.g. winword.exe"),
    Field("process_path", "lstr", 1024, r"full image path, e.g. c:\program files\...\winword.exe"),
    Field("command_line", "str", 8192),
    Field("parent_name", "lstr", 260),
    Field("parent_path", "lstr", 1024),
    Field("parent_command_line", "str", 8192),
    Field("original_file_name", "lstr", 260, "PE OriginalFileName"),
    Field("pe_description", "str", 512),
    Field("pe_product", "str", 512),
    Field("pe_company", "str", 512),
    Field("pe_file_version", "str", 128),
    Field("user_name", "lstr", 256, r"domain\user or user"),
    Field("logon_id", "str", 64),
    Field("integrity_level", "lstr", 32, "low, medium, high, system"),
    Field("current_directory", "lstr", 1024),
    Field("md5", "hex32"),
    Field("sha1", "hex40"),
    Field("sha256", "hex64"),
    Field("imphash", "hex32"),
    Field("started_at", "ts"),
    # -- what happened ----------------------------------------------------------------
    Field("action", "lstr", 32, "start/stop, create/modify/delete/rename, set/delete"),
    # autorun, driver, service: the item's own name and what it launches
    Field("autorun_type", "lstr", 32, "one of AUTORUN_TYPES"),
    Field("item_name", "lstr", 512, "service / task / run-key value / driver name"),
    Field("target_path", "lstr", 1024, "what an autorun or driver points at"),
    Field("arguments", "str", 4096),
    Field("signer", "str", 256),
    # file
    Field("file_path", "lstr", 1024),
    Field("file_name", "lstr", 260),
    Field("file_extension", "lstr", 32, "without the dot"),
    Field("file_size", "int"),
    Field("header_hex", "hexbytes", 32, "first 16 bytes of the file, lower-case hex"),
    Field("file_created_at", "ts"),
    Field("file_modified_at", "ts"),
    # network
    Field("protocol", "lstr", 8, "tcp / udp"),
    Field("local_ip", "ip"),
    Field("local_port", "int", max_value=65535),
    Field("remote_ip", "ip"),
    Field("remote_port", "int", max_value=65535),
    Field("remote_hostname", "lstr", 255),
    Field("direction", "lstr", 8, "outbound / inbound"),
    Field("connection_state", "lstr", 16),
    # logon
    Field(
        "logon_type",
        "int",
        help="2 interactive, 3 network, 10 remote interactive, ...",
        max_value=99,
    ),
    Field("target_user_name", "lstr", 256),
    Field("source_ip", "ip"),
    Field("source_hostname", "lstr", 255),
    Field("auth_package", "lstr", 64),
    # registry
    Field("registry_key", "lstr", 1024, r"hklm\software\microsoft\windows\currentversion\run\x"),
    Field("registry_value", "str", 4096, "the data written"),
    # dns
    Field("dns_query", "lstr", 255, "domain asked for, no trailing dot"),
    Field("dns_answers", "str", 2048, "comma-separated"),
)

FIELD_BY_NAME = {f.name: f for f in FIELDS}

HASH_LENGTHS = {"hex32": 32, "hex40": 40, "hex64": 64}
