"""The metrics demo: replayed through the cases services, idempotent, and it gives the
dashboard something to show."""

import io

import pytest

from metrics import demo, selectors
from metrics.aggregation import Filters
from metrics.models import RegulatoryFlag, Report
from metrics.periods import parse_period
from tenancy.context import tenant_context

pytestmark = pytest.mark.django_db


def test_demo_history_is_idempotent_and_measurable(tenant_a, monkeypatch):
    monkeypatch.setattr(demo, "DEFAULT_CASES", 14)
    out = io.StringIO()
    with tenant_context(tenant_a):
        demo.seed(tenant_a, out)
        demo.seed(tenant_a, out)
        from cases.models import Case

        assert Case.objects.filter(tags__name=demo.MARKER_TAG).count() == 14
        assert all(c.title.startswith("[demo]") for c in Case.objects.all())
        figures = selectors.compute_figures(
            period=parse_period({"period": "last-12-months"}), filters=Filters()
        )
        assert sum(row["count"] for row in figures["rows"] if row["clock"] == "triage") >= 10
        assert RegulatoryFlag.objects.count() == 3
        assert Report.objects.filter(kind="scheduled").count() == 1
    assert "left alone" in out.getvalue()
