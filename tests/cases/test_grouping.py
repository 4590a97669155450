"""Grouping rules: which alerts open a case, which join one, which wait."""

import datetime as dt

import pytest
from django.utils import timezone

from cases.models import Case, GroupingRule, MilestoneChange, Task, TimelineEntry
from cases.services import (
    alert_ingest,
    case_transition,
    grouping_rule_delete,
    grouping_rule_save,
    grouping_rules_ensure,
)
from tests.cases.factories import alert_input, make_endpoint

pytestmark = pytest.mark.django_db


def test_defaults_are_seeded_once_in_order(in_a):
    rules = grouping_rules_ensure()
    assert [(r.action, r.join_on, r.min_severity, r.source) for r in rules] == [
        ("join_case", "endpoint", "", ""),
        ("join_case", "ioc_key", "", ""),
        ("open_case", "", "high", ""),
        ("open_case", "", "", "hash_reputation"),
    ]
    assert [r.pk for r in grouping_rules_ensure()] == [r.pk for r in rules]


def test_a_tenant_that_deleted_every_rule_keeps_none(in_a):
    for rule in grouping_rules_ensure():
        grouping_rule_delete(rule=rule)
    assert grouping_rules_ensure() == []
    result = alert_ingest(alerts=[alert_input(severity="critical")])
    assert result.cases_created == [] and result.alerts[0].status == "new"


@pytest.mark.parametrize("severity", ["high", "critical"])
def test_high_and_critical_alerts_open_a_case_at_once(in_a, severity):
    t0 = timezone.now() - dt.timedelta(minutes=40)
    result = alert_ingest(alerts=[alert_input(severity=severity, observed_at=t0)])
    (case,) = result.cases_created
    alert = result.alerts[0]
    assert (alert.status, alert.case_id) == ("promoted", case.pk)
    assert case.detected_at == t0  # the alert's detection time, not the row's creation
    assert case.severity == severity and case.status == "new"
    assert case.created_by is None
    assert TimelineEntry.objects.filter(case=case, kind="created").exists()
    assert MilestoneChange.objects.filter(case=case, milestone="detected_at").exists()


def test_every_hash_reputation_alert_opens_a_case(in_a):
    result = alert_ingest(alerts=[alert_input(severity="low", source="hash_reputation")])
    assert len(result.cases_created) == 1


def test_a_medium_alert_waits(in_a):
    result = alert_ingest(alerts=[alert_input(severity="medium")])
    assert result.cases_created == [] and result.cases_joined == []


def test_an_alert_on_an_endpoint_with_an_open_case_joins_it(in_a):
    endpoint = make_endpoint()
    t0 = timezone.now() - dt.timedelta(hours=2)
    first = alert_ingest(alerts=[alert_input(severity="high", endpoint=endpoint, observed_at=t0)])
    case = first.cases_created[0]
    earlier = t0 - dt.timedelta(minutes=20)
    joined = alert_ingest(
        alerts=[
            alert_input(
                severity="critical", endpoint=endpoint, observed_at=earlier, phase="persistence"
            )
        ]
    )
    assert joined.cases_created == [] and [c.pk for c in joined.cases_joined] == [case.pk]
    assert joined.alerts[0].status == "merged"
    case.refresh_from_db()
    assert case.detected_at == earlier  # the earliest observed time of its alerts
    assert (case.severity, case.phase, case.version) == ("critical", "persistence", 2)
    kinds = set(TimelineEntry.objects.filter(case=case).values_list("kind", flat=True))
    assert {"alert", "severity", "milestone"} <= kinds
    change = MilestoneChange.objects.get(case=case, kind="recomputed")
    assert (change.old_value, change.new_value) == (t0, earlier)
    # the new phase's playbook was applied, once
    assert Task.objects.filter(case=case, phase="persistence").count() == 6


def test_a_medium_alert_joins_an_open_case_on_its_endpoint(in_a):
    endpoint = make_endpoint()
    case = alert_ingest(alerts=[alert_input(severity="high", endpoint=endpoint)]).cases_created[0]
    result = alert_ingest(alerts=[alert_input(severity="low", endpoint=endpoint)])
    assert result.alerts[0].case_id == case.pk


def test_no_join_outside_the_window(in_a):
    endpoint = make_endpoint()
    old = timezone.now() - dt.timedelta(days=2)
    alert_ingest(alerts=[alert_input(severity="high", endpoint=endpoint, observed_at=old)])
    result = alert_ingest(alerts=[alert_input(severity="low", endpoint=endpoint)])
    assert result.alerts[0].case is None


@pytest.mark.parametrize("status", ["remediated", "closed"])
def test_no_join_into_a_finished_case(in_a, status):
    endpoint = make_endpoint()
    case = alert_ingest(alerts=[alert_input(severity="high", endpoint=endpoint)]).cases_created[0]
    case_transition(case=case, status="remediated")
    if status == "closed":
        case_transition(case=case, status="closed", resolution="true_positive")
    result = alert_ingest(alerts=[alert_input(severity="high", endpoint=endpoint)])
    assert result.cases_joined == [] and len(result.cases_created) == 1


def test_same_ioc_joins_the_open_case(in_a):
    ioc = "sha256:" + "ab" * 32
    case = alert_ingest(
        alerts=[alert_input(source="hash_reputation", ioc_key=ioc, endpoint=make_endpoint())]
    ).cases_created[0]
    result = alert_ingest(
        alerts=[
            alert_input(source="ioc_sweep", severity="low", ioc_key=ioc, endpoint=make_endpoint())
        ]
    )
    assert result.alerts[0].case_id == case.pk


def test_alerts_of_one_batch_group_together(in_a):
    endpoint = make_endpoint()
    result = alert_ingest(
        alerts=[
            alert_input(severity="medium", endpoint=endpoint),
            alert_input(severity="high", endpoint=endpoint),
            alert_input(severity="low", endpoint=endpoint),
        ]
    )
    # the medium one was observed first but no rule takes it until the high one opens a case
    cases = {a.case_id for a in result.alerts if a.case_id}
    assert len(cases) == 1 and len(result.cases_created) == 1


def test_a_disabled_rule_does_nothing(in_a):
    for rule in grouping_rules_ensure():
        if rule.min_severity == "high":
            grouping_rule_save(
                rule=rule,
                name=rule.name,
                action=rule.action,
                order=rule.order,
                is_enabled=False,
                min_severity="high",
            )
    result = alert_ingest(alerts=[alert_input(severity="critical")])
    assert result.cases_created == []


def test_a_custom_rule_with_its_own_window(in_a):
    for rule in grouping_rules_ensure():
        grouping_rule_delete(rule=rule)
    grouping_rule_save(name="every sweep hit", action="open_case", source="ioc_sweep", order=1)
    grouping_rule_save(
        name="same host, 1 h", action="join_case", join_on="endpoint", window_minutes=60, order=0
    )
    endpoint = make_endpoint()
    t0 = timezone.now() - dt.timedelta(hours=3)
    alert_ingest(alerts=[alert_input(source="ioc_sweep", endpoint=endpoint, observed_at=t0)])
    far = alert_ingest(alerts=[alert_input(source="api", endpoint=endpoint)])
    near = alert_ingest(
        alerts=[
            alert_input(source="api", endpoint=endpoint, observed_at=t0 + dt.timedelta(minutes=30))
        ]
    )
    assert far.alerts[0].case is None and near.alerts[0].case is not None
    assert Case.objects.count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"action": "join_case"}, "join_on"),
        ({"action": "open_case", "join_on": "endpoint"}, "join_on"),
        ({"action": "open_case", "min_severity": "huge"}, "min_severity"),
        ({"action": "panic"}, "action"),
        ({"action": "join_case", "join_on": "endpoint", "window_minutes": 0}, "window_minutes"),
    ],
)
def test_a_bad_rule_is_refused(in_a, values, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        grouping_rule_save(name="x", **values)
    assert field in caught.value.message_dict
    assert not GroupingRule.objects.filter(name="x").exists()
