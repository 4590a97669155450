"""CSV exports shared by the browser and the API: per-case spans (streamed) and the breach
register."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import HttpResponse, StreamingHttpResponse

from metrics import selectors
from metrics.aggregation import Filters
from metrics.periods import Period
from tenancy.context import tenant_context


class _Line:
    def __init__(self) -> None:
        self.value = ""

    def write(self, text: str) -> None:
        self.value = text


def csv_line(values: Iterable) -> str:
    """One CSV line (quoted as the csv module quotes), for streaming."""
    line = _Line()
    csv.writer(line, lineterminator="\n").writerow(values)
    return line.value


def spans_csv_response(tenant, period: Period, filters: Filters) -> StreamingHttpResponse:
    """The per-case spans of a period as a streamed CSV attachment."""

    def rows() -> Iterator[str]:
        # The body streams after the view returns: re-enter the tenant for it.
        with tenant_context(tenant):
            yield csv_line(selectors.SPAN_COLUMNS)
            for row in selectors.iter_spans(period=period, filters=filters):
                yield csv_line(row)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    name = f"spans-{tenant.slug}-{period.current.first}-{period.current.after}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def register_csv_response(tenant) -> HttpResponse:
    """The GDPR breach register as a CSV attachment."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    csv.writer(response, lineterminator="\n").writerows(selectors.register_csv_rows())
    response["Content-Disposition"] = f'attachment; filename="breach-register-{tenant.slug}.csv"'
    return response
