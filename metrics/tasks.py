"""Celery tasks of the metrics app: thin, take ids, call a service.

`generate_report` renders one PDF (progress is written on the report row as it goes);
`monthly_reports_all` (beat, hourly) fans out one `monthly_report` per tenant, which makes
the report of the last complete month in the tenant's zone once, however often it runs.
"""

from __future__ import annotations

from celery import shared_task

from tenancy.tasks import TenantTask


@shared_task(
    base=TenantTask,
    name="metrics.generate_report",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=600,
)
def generate_report(*, tenant_id: int, report_id: int, actor: dict | None = None) -> str:
    """`actor` (who asked) is taken by TenantTask for the audit trail."""
    from .services import report_generate

    return report_generate(report_id=report_id).status


@shared_task(base=TenantTask, name="metrics.monthly_report", ignore_result=True)
def monthly_report(*, tenant_id: int) -> int | None:
    from .services import report_schedule_monthly

    report = report_schedule_monthly()
    return report.pk if report is not None else None


@shared_task(name="metrics.monthly_reports_all", ignore_result=True)
def monthly_reports_all() -> int:
    from tenancy.models import Tenant

    ids = list(Tenant.objects.values_list("pk", flat=True))
    for tenant_id in ids:
        monthly_report.delay(tenant_id=tenant_id)
    return len(ids)
