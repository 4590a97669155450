"""IOC normalisation and feed parsers: pure Python, no database.

Parsers turn a feed into a `ParseResult`: `IOCCandidate`s (normalised, ready to upsert)
and `Skipped` entries (what was left out, and why). Only a feed that is unusable as a
whole raises (`InvalidFeed`); a bad value raises `InvalidIOC` with the field and a reason.
The import service, the API and `import_iocs` build on these; nothing here writes.
"""

from .csv_import import CsvMapping, parse_csv
from .misp import parse_misp
from .normalize import (
    compile_cmdline,
    detect_type,
    normalize,
    normalize_address,
    normalize_as,
    normalize_ioc,
    refang,
    undetected_reason,
)
from .stix import extract_pattern, iter_stix_objects, parse_stix_bundle, parse_stix_objects
from .text_import import parse_text
from .types import (
    IOC_TYPES,
    InvalidFeed,
    InvalidIOC,
    IOCCandidate,
    IOCType,
    ParseResult,
    Skipped,
)
from .warninglists import WarninglistMatch, check
from .yara_rules import CompiledYara, compile_yara, scan_bytes, validate_yara

__all__ = [
    "IOC_TYPES",
    "CompiledYara",
    "CsvMapping",
    "IOCCandidate",
    "IOCType",
    "InvalidFeed",
    "InvalidIOC",
    "ParseResult",
    "Skipped",
    "WarninglistMatch",
    "check",
    "compile_cmdline",
    "compile_yara",
    "detect_type",
    "extract_pattern",
    "iter_stix_objects",
    "normalize",
    "normalize_address",
    "normalize_as",
    "normalize_ioc",
    "parse_csv",
    "parse_misp",
    "parse_stix_bundle",
    "parse_stix_objects",
    "parse_text",
    "refang",
    "scan_bytes",
    "undetected_reason",
    "validate_yara",
]
