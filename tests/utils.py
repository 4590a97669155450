"""Small helpers shared by every app's tests."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_queries(request: Callable[[], object]) -> tuple[int, object]:
    """(number of SQL queries, result) for one call."""
    with CaptureQueriesContext(connection) as captured:
        result = request()
    return len(captured), result


def assert_constant_queries(
    add_rows: Callable[[int], object], request: Callable[[], object], sizes=(2, 25)
) -> int:
    """The query count of `request()` does not grow with the number of rows shown.

    `add_rows(n)` adds n more rows (inside the right tenant context); `request()` fetches
    the page and must succeed. Returns the constant count, for the record.
    """
    counts = []
    for size in sizes:
        add_rows(size)
        count, response = count_queries(request)
        status = getattr(response, "status_code", 200)
        assert status == 200, f"request answered {status}"
        counts.append(count)
    assert len(set(counts)) == 1, f"queries grew with rows: {dict(zip(sizes, counts, strict=True))}"
    return counts[0]
