"""The demo seed: believable, every state represented, idempotent."""

import io

import pytest

from cases import demo
from cases.models import Alert, Case, MilestoneChange, SlaBreach
from tenancy.context import tenant_context
from tenancy.selectors import audit_verify

pytestmark = pytest.mark.django_db


def test_the_demo_has_every_state_and_runs_once(tenant_a):
    with tenant_context(tenant_a):
        demo.seed(tenant_a, io.StringIO())
        statuses = set(Case.objects.values_list("status", flat=True))
        assert {"new", "triage", "investigating", "contained", "closed"} <= statuses
        assert set(Case.objects.values_list("phase", flat=True)) == {
            "initial_infection",
            "persistence",
            "lateral_movement",
        }
        assert SlaBreach.objects.exists()
        assert Case.objects.filter(paused_at__isnull=False).exists()
        assert MilestoneChange.objects.filter(kind="reopened").exists()
        assert Alert.objects.filter(status="new", case__isnull=True).count() >= 3
        counts = (Case.objects.count(), Alert.objects.count())
        out = io.StringIO()
        demo.seed(tenant_a, out)
        assert "left alone" in out.getvalue()
        assert (Case.objects.count(), Alert.objects.count()) == counts
    assert audit_verify(tenant_a).ok
