"""Browser pages of the metrics app: the metrics dashboard (htmx period and filter controls),
SLA targets, PDF reports, regulatory deadlines per case and the GDPR breach register.
Thin: they parse, authorise and call a selector or a service."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from metrics import presentation, selectors, services
from metrics.aggregation import Filters
from metrics.clocks import CLOCKS_BY_KEY, DEFINITIONS_VERSION, PHASES, SLA_CLOCKS
from metrics.exports import register_csv_response, spans_csv_response
from metrics.forms import (
    MetricsQueryForm,
    NotificationForm,
    RegulatoryFlagForm,
    ReportForm,
    SlaTargetForm,
)
from metrics.models import RegulatoryFlag, Report, SlaTarget
from metrics.periods import DEFAULT_SPEC, parse_period, period_options
from metrics.regulatory import REGIMES
from metrics.summary import executive_summary
from metrics.targets import SEVERITIES
from tenancy import roles
from tenancy.errors import Conflict
from tenancy.permissions import role_required

WORKERS = frozenset({roles.ADMIN, roles.LEAD, roles.ANALYST})


def _url(request, name: str, **kwargs) -> str:
    return reverse(name, kwargs={"tenant_slug": request.tenant.slug, **kwargs})


def _query(request) -> MetricsQueryForm:
    form = MetricsQueryForm(request.GET, zone=request.tenant.timezone)
    form.is_valid()
    return form


def _resolved(form: MetricsQueryForm):
    if form.is_valid():
        return form.resolved()
    return parse_period({"period": DEFAULT_SPEC}, form.zone), Filters()


# -- dashboard -------------------------------------------------------------------------------


def dashboard(request):
    """Breaches in progress first, then the period's KPI tiles, the phase x clock table and
    the charts. With htmx, only the part below the controls is sent back."""
    form = _query(request)
    period, filters = _resolved(form)
    clock = form.chart_clock()
    now = timezone.now()
    figures, trend = selectors.compute_figures_and_trend(
        period=period, filters=filters, now=now, trend_clocks=(clock,)
    )
    table = selectors.target_table()
    target = table.uniform(clock, filters.phases, filters.severities, period.end)
    goal = presentation.compliance_goal(request.tenant)
    context = {
        "form": form,
        "period": period,
        "filters": filters,
        "clock": CLOCKS_BY_KEY[clock],
        "figures": figures,
        "summary": executive_summary(figures),
        "tiles": presentation.kpi_tiles(figures),
        "rows": presentation.table_rows(figures),
        "breaches_now": selectors.open_clocks(filters=filters, now=now, limit=25),
        "distribution_svg": presentation.distribution_chart(figures, clock, target),
        "trend_svg": presentation.trend_chart(
            selectors.trend_series(trend, clock), clock, target, period.label
        ),
        "compliance_svg": presentation.compliance_chart(figures, goal),
        "goal": goal,
        "definitions_version": DEFINITIONS_VERSION,
        "query": request.GET.urlencode(),
        "period_options": period_options(
            request.tenant.timezone, now, form.data.get("period") or ""
        ),
        "period_value": form.data.get("period") or DEFAULT_SPEC,
        "clock_choices": presentation.clock_choices(),
        "can_report": request.role in WORKERS,
        "report_form": ReportForm(),
        "now": now,
    }
    if request.headers.get("HX-Request"):
        return render(request, "metrics/_dashboard_body.html", context)
    return render(request, "metrics/dashboard.html", context)


@require_GET
def spans_csv(request):
    """The per-case spans behind the dashboard's figures (same query string), as CSV."""
    form = _query(request)
    if not form.is_valid():
        return HttpResponse(
            "; ".join(f"{k}: {v}" for k, v in form.error_fields().items()),
            status=400,
            content_type="text/plain",
        )
    period, filters = form.resolved()
    return spans_csv_response(request.tenant, period, filters)


# -- SLA targets -----------------------------------------------------------------------------


def targets(request):
    """Targets in force now (phase x severity x clock) and every change; leads add one."""
    form = SlaTargetForm(request.POST or None)
    if request.method == "POST":
        if request.role not in roles.LEADS:
            return render(request, "403.html", status=403)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.sla_target_set(
                    phase=data["phase"],
                    severity=data["severity"],
                    clock=data["clock"],
                    target=form.target(),
                    effective_from=data.get("effective_from"),
                    reason=data.get("reason", ""),
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except Conflict as exc:
                form.add_error(None, str(exc.detail))
            else:
                messages.success(request, "Target saved; open cases are re-judged against it.")
                return redirect(_url(request, "metrics:targets"))
    in_force = {
        (row["phase"], row["severity"], row["clock"]): row for row in selectors.targets_in_force()
    }
    grid = [
        {
            "phase": phase,
            "severity": severity,
            "cells": [in_force[(phase.key, severity.key, clock.key)] for clock in SLA_CLOCKS],
        }
        for phase in PHASES
        for severity in SEVERITIES
    ]
    return render(
        request,
        "metrics/targets.html",
        {
            "form": form,
            "grid": grid,
            "clocks": SLA_CLOCKS,
            "history": selectors.target_history(),
            "can_edit": request.role in roles.LEADS,
            "now": timezone.now(),
        },
    )


@require_POST
@role_required(roles.LEADS)
def target_cancel(request, pk: int):
    target = get_object_or_404(SlaTarget, pk=pk)
    try:
        services.sla_target_cancel(target=target)
    except Conflict as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, "The scheduled change was withdrawn.")
    return redirect(_url(request, "metrics:targets"))


# -- reports ---------------------------------------------------------------------------------


def reports(request):
    """Reports of the tenant; workers ask for a new one (period and filters from the
    dashboard's query string)."""
    if request.method == "POST":
        if request.role not in WORKERS:
            return render(request, "403.html", status=403)
        form = MetricsQueryForm(request.POST, zone=request.tenant.timezone)
        paper = ReportForm(request.POST)
        if form.is_valid() and paper.is_valid():
            period, filters = form.resolved()
            report = services.report_request(
                period=period, filters=filters, paper=paper.cleaned_data["paper"]
            )
            messages.success(request, f"Report for {period.label} queued.")
            return redirect(_url(request, "metrics:report-detail", pk=report.pk))
        messages.error(request, "; ".join(f"{k}: {v}" for k, v in form.error_fields().items()))
    return render(
        request,
        "metrics/reports.html",
        {
            "reports": selectors.reports()[:100],
            "can_report": request.role in WORKERS,
            "form": MetricsQueryForm(zone=request.tenant.timezone),
            "report_form": ReportForm(),
            "presets": MetricsQueryForm.presets(),
        },
    )


def report_detail(request, pk: int):
    report = get_object_or_404(Report, pk=pk)
    template = "metrics/_report_status.html" if request.headers.get("HX-Request") else None
    return render(request, template or "metrics/report_detail.html", {"report": report})


@require_GET
def report_download(request, pk: int):
    report = get_object_or_404(Report, pk=pk)
    try:
        content = services.report_open(report=report)
    except Conflict:
        messages.error(request, "The report is not ready yet.")
        return redirect(_url(request, "metrics:report-detail", pk=pk))
    except services.ReportTampered:
        messages.error(request, "The stored file no longer matches its SHA-256; not served.")
        return redirect(_url(request, "metrics:report-detail", pk=pk))
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="stopclock-report-{report.short_id}.pdf"'
    )
    response["X-Content-SHA256"] = report.sha256
    return response


# -- regulatory ------------------------------------------------------------------------------


def regulatory(request):
    """Every deadline of every notifiable case, soonest first, counting down."""
    return render(
        request,
        "metrics/regulatory.html",
        {"deadlines": selectors.regulatory_deadlines(), "now": timezone.now()},
    )


def _flag_form_values(form: RegulatoryFlagForm) -> dict:
    values = form.values()
    for name in ("subjects_approx", "records_approx"):
        values[name] = values.get(name)
    return values


def case_regulatory(request, pk: int):
    """One case's regulatory clocks: flag it under a regime, record notifications."""
    from cases.models import Case

    case = get_object_or_404(Case, pk=pk)
    flag_form = RegulatoryFlagForm(prefix="flag")
    notify_form = NotificationForm(prefix="notify", case=case)
    if request.method == "POST":
        if request.role not in WORKERS:
            return render(request, "403.html", status=403)
        action = request.POST.get("action")
        try:
            if action == "flag":
                flag_form = RegulatoryFlagForm(request.POST, prefix="flag")
                if flag_form.is_valid():
                    services.regulatory_flag_create(
                        case=case,
                        regime=flag_form.cleaned_data["regime"],
                        **_flag_form_values(flag_form),
                    )
                    messages.success(request, "Case flagged; its deadlines are running.")
                    return redirect(_url(request, "metrics:case-regulatory", pk=case.pk))
            elif action == "notify":
                notify_form = NotificationForm(request.POST, prefix="notify", case=case)
                if notify_form.is_valid():
                    services.regulatory_notification_record(**notify_form.cleaned_data)
                    messages.success(request, "Notification recorded.")
                    return redirect(_url(request, "metrics:case-regulatory", pk=case.pk))
            elif action == "update":
                flag = get_object_or_404(RegulatoryFlag, pk=request.POST.get("flag"), case=case)
                form = RegulatoryFlagForm(request.POST, prefix=f"edit-{flag.pk}", instance=flag)
                if form.is_valid():
                    services.regulatory_flag_update(flag=flag, **_flag_form_values(form))
                    messages.success(request, "Saved.")
                    return redirect(_url(request, "metrics:case-regulatory", pk=case.pk))
                messages.error(request, form.errors.as_text())
        except ValidationError as exc:
            messages.error(
                request, "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            )
        except Conflict as exc:
            messages.error(request, str(exc.detail))
    panel = selectors.case_regulatory(case)
    edit_forms = {
        entry["flag"].pk: RegulatoryFlagForm(
            prefix=f"edit-{entry['flag'].pk}", instance=entry["flag"]
        )
        for entry in panel["flags"]
    }
    for entry in panel["flags"]:
        entry["edit_form"] = edit_forms[entry["flag"].pk]
    return render(
        request,
        "metrics/case_regulatory.html",
        {
            "case": case,
            "regulatory": panel,
            "flag_form": flag_form,
            "notify_form": notify_form,
            "regimes": REGIMES,
            "can_write": request.role in WORKERS,
        },
    )


def breach_register(request):
    now = timezone.now()
    rows = [selectors.register_row(flag, now) for flag in selectors.breach_register()]
    return render(request, "metrics/breach_register.html", {"rows": rows})


@require_GET
def breach_register_csv(request):
    return register_csv_response(request.tenant)
