"""Metrics routes in the isolation harness (one line each; factories run in the tenant in
context). Report downloads are also checked by tests/metrics/test_api.py."""

import datetime as dt

from django.utils import timezone

from metrics.models import RegulatoryFlag, RegulatoryNotification, Report, SlaTarget
from metrics.periods import parse_period
from metrics.services import (
    regulatory_flag_create,
    regulatory_notification_record,
    report_request,
    sla_target_set,
)
from tests.cases.factories import make_case
from tests.isolation.harness import api, page


def make_report() -> Report:
    return report_request(period=parse_period({"period": "2026-10"}))


def make_target() -> SlaTarget:
    return sla_target_set(
        phase="persistence",
        severity="low",
        clock="triage",
        target=dt.timedelta(minutes=20),
        effective_from=timezone.now() + dt.timedelta(days=2),
    )


def make_flag() -> RegulatoryFlag:
    return regulatory_flag_create(case=make_case(), regime="gdpr", aware_at=timezone.now())


def make_notification() -> RegulatoryNotification:
    return regulatory_notification_record(
        flag=make_flag(),
        deadline="authority_notification",
        sent_at=timezone.now(),
        recipient="CNIL",
    )


api("report", factory=make_report)
api("sla-target", factory=make_target)
api("regulatory-flag", factory=make_flag)
api("regulatory-notification", factory=make_notification)
api("breach-register", factory=make_flag, writable=False)
page("metrics:report-detail", factory=make_report, methods=("get",))
page("metrics:report-download", factory=make_report, methods=("get",))
page("metrics:target-cancel", factory=make_target, methods=("post",))
page("metrics:case-regulatory", factory=make_case)
