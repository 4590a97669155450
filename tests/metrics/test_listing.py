"""The fixed-width listings of the PDF's long lists: aligned columns, numbers to the right,
the free-text column last and unpadded, the header repeated on every chunk."""

from __future__ import annotations

from metrics import presentation
from metrics.presentation import Column, listing


def test_columns_align_and_numbers_sit_right():
    rows = [
        {"case": "CASE-2026-0001", "hours": 3, "why": "waiting on the ISP"},
        {"case": "CASE-2026-0123", "hours": 120, "why": ""},
    ]
    result = listing(
        (
            Column("Case", lambda r: r["case"]),
            Column("Hours", lambda r: str(r["hours"]), right=True),
            Column("Reason", lambda r: r["why"] or "none recorded"),
        ),
        rows,
    )
    assert result.header == "Case            Hours  Reason"
    assert result.chunks == [
        ["CASE-2026-0001      3  waiting on the ISP", "CASE-2026-0123    120  none recorded"]
    ]
    # The reason column starts where continuation lines are indented to.
    assert result.header.index("Reason") == result.indent


def test_long_lists_repeat_the_header_every_chunk():
    rows = [{"n": i} for i in range(presentation.LISTING_CHUNK * 2 + 1)]
    result = listing((Column("N", lambda r: str(r["n"]), right=True), Column("X", str)), rows)
    assert [len(chunk) for chunk in result.chunks] == [presentation.LISTING_CHUNK] * 2 + [1]
    assert listing((Column("N", str), Column("X", str)), []).chunks == []
