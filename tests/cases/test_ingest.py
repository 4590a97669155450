"""alert_ingest: validation (all or nothing), idempotency, deduplication, bulk cost."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import Alert, AlertExternalRef, Case
from cases.services import AlertValidationError, alert_ingest, case_transition
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tests.cases.factories import alert_input, make_endpoint

pytestmark = pytest.mark.django_db


def test_an_alert_no_rule_takes_waits_in_the_queue(in_a):
    result = alert_ingest(alerts=[alert_input(severity="medium")])
    alert = result.alerts[0]
    assert (result.created, result.outcomes) == (1, ["created"])
    assert alert.status == "new" and alert.case is None and alert.count == 1
    assert alert.first_seen_at == alert.last_seen_at == alert.observed_at
    assert AuditEvent.objects.filter(action="alert.create", object_id=str(alert.pk)).exists()


def test_resending_the_same_external_id_creates_nothing(in_a):
    batch = [alert_input(external_id="siem-42"), alert_input(external_id="siem-43")]
    first = alert_ingest(alerts=batch)
    events = AuditEvent.objects.count()
    again = alert_ingest(alerts=batch)
    assert (again.created, again.already_known) == (0, 2)
    assert [a.pk for a in again.alerts] == [a.pk for a in first.alerts]
    assert Alert.objects.count() == 2
    assert AuditEvent.objects.count() == events


def test_external_ids_are_per_source(in_a):
    alert_ingest(alerts=[alert_input(external_id="x1", source="api")])
    result = alert_ingest(alerts=[alert_input(external_id="x1", source="ioc_sweep")])
    assert result.created == 1


def test_a_repeat_within_the_window_bumps_count_and_last_seen(in_a):
    t0 = timezone.now() - dt.timedelta(hours=3)
    first = alert_ingest(alerts=[alert_input(dedup_key="rule:7:ep:1", observed_at=t0)])
    later = t0 + dt.timedelta(hours=2)
    earlier = t0 - dt.timedelta(minutes=30)
    result = alert_ingest(
        alerts=[
            alert_input(dedup_key="rule:7:ep:1", observed_at=later),
            alert_input(dedup_key="rule:7:ep:1", observed_at=earlier),
        ]
    )
    assert (result.created, result.deduplicated) == (0, 2)
    alert = Alert.objects.get()
    assert alert.pk == first.alerts[0].pk
    assert alert.count == 3
    assert (alert.first_seen_at, alert.last_seen_at, alert.observed_at) == (earlier, later, t0)


def test_a_repeat_outside_the_window_is_a_new_alert(in_a):
    t0 = timezone.now() - dt.timedelta(days=3)
    alert_ingest(alerts=[alert_input(dedup_key="k", observed_at=t0)])
    result = alert_ingest(alerts=[alert_input(dedup_key="k")])
    assert result.created == 1 and Alert.objects.count() == 2


def test_the_dedup_window_is_a_tenant_setting(in_a):
    in_a.settings = {"cases": {"dedup_window_minutes": 10}}
    in_a.save()
    t0 = timezone.now() - dt.timedelta(minutes=30)
    alert_ingest(alerts=[alert_input(dedup_key="k", observed_at=t0)])
    assert alert_ingest(alerts=[alert_input(dedup_key="k")]).created == 1


def test_a_deduplicated_alert_resent_does_not_count_twice(in_a):
    alert_ingest(alerts=[alert_input(dedup_key="k", external_id="a")])
    repeat = [alert_input(dedup_key="k", external_id="b")]
    alert_ingest(alerts=repeat)
    again = alert_ingest(alerts=repeat)
    assert again.already_known == 1
    assert Alert.objects.get().count == 2
    assert AlertExternalRef.objects.count() == 2


def test_repeats_in_one_batch_fold_into_one_alert(in_a):
    result = alert_ingest(alerts=[alert_input(dedup_key="k") for _ in range(5)])
    assert (result.created, result.deduplicated) == (1, 4)
    assert len({a.pk for a in result.alerts}) == 1
    assert Alert.objects.get().count == 5


def test_no_dedup_into_an_alert_whose_case_is_closed(in_a):
    first = alert_ingest(alerts=[alert_input(dedup_key="k", severity="high")])
    case = first.cases_created[0]
    case_transition(case=case, status="closed", resolution="false_positive")
    again = alert_ingest(alerts=[alert_input(dedup_key="k", severity="high")])
    assert again.created == 1
    assert again.alerts[0].case_id not in (None, case.pk)


def test_dismissed_alerts_do_not_absorb_repeats(in_a):
    from cases.services import alert_dismiss

    first = alert_ingest(alerts=[alert_input(dedup_key="k")])
    alert_dismiss(alerts=first.alerts, reason="benign")
    assert alert_ingest(alerts=[alert_input(dedup_key="k")]).created == 1


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("severity", "urgent", "not one of"),
        ("source", "email", "not one of"),
        ("phase", "exfiltration", "not one of"),
        ("title", "  ", "required"),
        ("observed_at", dt.datetime(2026, 1, 1, 12, 0), "timezone-aware"),
        ("observed_at", "yesterday", "timezone-aware"),
        ("attack_techniques", ["T1059.001", "powershell"], "ATT&CK"),
        ("raw", {"blob": "x" * (64 * 1024)}, "limit"),
        ("raw", {"n": float("nan")}, "JSON"),
        ("endpoint", 999_999, "unknown endpoint"),
        ("external_id", "x" * 201, "at most"),
    ],
)
def test_one_bad_alert_refuses_the_batch_and_names_the_field(in_a, field, value, fragment):
    batch = [alert_input(), alert_input(**{field: value}), alert_input()]
    with pytest.raises(AlertValidationError) as caught:
        alert_ingest(alerts=batch)
    assert caught.value.errors_by_index.keys() == {1}
    assert fragment in caught.value.errors_by_index[1][field]
    assert f"alerts.1.{field}" in caught.value.message_dict
    assert Alert.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="alert.").exists()


def test_an_alert_from_the_future_is_refused(in_a):
    future = timezone.now() + dt.timedelta(hours=1)
    with pytest.raises(AlertValidationError, match="future"):
        alert_ingest(alerts=[alert_input(observed_at=future)])


def test_another_tenants_endpoint_is_unknown(in_a, tenant_b):
    with tenant_context(tenant_b):
        foreign = make_endpoint()
    for value in (foreign, foreign.pk):
        with pytest.raises(AlertValidationError, match="unknown endpoint"):
            alert_ingest(alerts=[alert_input(endpoint=value)])


def test_more_than_a_thousand_alerts_is_refused(in_a):
    with pytest.raises(ValidationError, match="at most 1000"):
        alert_ingest(alerts=[alert_input() for _ in range(1001)])


def test_a_thousand_alerts_cost_a_handful_of_queries(in_a):
    endpoints = [make_endpoint() for _ in range(20)]

    def batch(n, offset):
        return [
            alert_input(
                external_id=f"bulk-{offset}-{i}",
                dedup_key=f"k{i % 300}",
                endpoint=endpoints[i % 20] if i % 3 else None,
                severity=("low", "medium", "high", "critical")[i % 4],
                ioc_key=f"sha256:{i % 7:064x}" if i % 5 == 0 else "",
            )
            for i in range(n)
        ]

    with CaptureQueriesContext(connection) as small:
        alert_ingest(alerts=batch(10, 0))
    with CaptureQueriesContext(connection) as large:
        result = alert_ingest(alerts=batch(1000, 1))
    assert result.created + result.deduplicated == 1000
    assert len(large) <= 60, f"{len(large)} queries for 1,000 alerts"
    assert len(large) - len(small) <= 25
    # everything new is audited, in the same transaction
    assert AuditEvent.objects.filter(action="alert.create").count() == Alert.objects.count()


def test_ingest_needs_a_tenant(db):
    from tenancy.context import TenantContextMissing

    with pytest.raises(TenantContextMissing):
        alert_ingest(alerts=[alert_input()])


def test_two_tenants_never_dedup_into_each_other(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            result = alert_ingest(alerts=[alert_input(dedup_key="same", external_id="same")])
            assert result.created == 1
    with tenant_context(tenant_a):
        assert Alert.objects.count() == 1
        assert Case.objects.count() == 0
