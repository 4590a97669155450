"""Plain IOC lists (one value per line, as pasted from a report or a blocklist).

`#` starts a comment: a whole-line comment is ignored, a trailing one (`1.2.3.4  # C2`,
separated by whitespace so URL fragments survive) becomes the IOC's description. Blank
lines are skipped. Each value's type is detected; defanged values (`hxxp://evil[.]com`,
`1.2.3(.)4`, `[:]`) are refanged first, because that is how reports publish them.
A line whose type cannot be told is reported as "line N".
"""

from __future__ import annotations

import re

from .normalize import detect_type, normalize_ioc, undetected_reason
from .types import InvalidIOC, IOCCandidate, ParseResult, clean_text, decode_text

_TRAILING_COMMENT = re.compile(r"\s+#")


def parse_text(text: str | bytes) -> ParseResult:
    """Lines to candidates; never raises for a bad line, only for undecodable bytes."""
    result = ParseResult()
    for number, line in enumerate(decode_text(text).split("\n"), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        value, *comment = _TRAILING_COMMENT.split(entry, maxsplit=1)
        ref = f"line {number}"
        kind = detect_type(value)
        if kind is None:
            result.skip(ref, undetected_reason(value))
            continue
        try:
            ioc_type, normalized = normalize_ioc(kind, value)
        except InvalidIOC as exc:
            result.skip(ref, exc.message)
            continue
        result.candidates.append(
            IOCCandidate(
                type=ioc_type,
                value=normalized,
                original_value=value,
                description=clean_text(comment[0] if comment else ""),
            )
        )
    return result
