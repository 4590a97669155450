"""Browser pages of the endpoints app: inventory, endpoint detail, timeline ("Trace"),
process tree, stacking, detection rules, agent enrolment. Thin: they parse, authorise and
call a selector or a service."""

from __future__ import annotations

import datetime as dt
import importlib
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from tenancy import roles
from tenancy.permissions import can_write, role_required
from tenancy.redirects import safe_next

from . import selectors, services
from .forms import (
    EndpointFilterForm,
    RuleExceptionForm,
    RuleUploadForm,
    StackFilterForm,
    TimelineFilterForm,
)
from .models import DetectionRule, Endpoint, Observation, RuleException, TelemetryBatch

WRITERS = roles.WRITERS - {roles.AUDITOR}


def _url(request, name: str, **kwargs) -> str:
    return reverse(name, kwargs={"tenant_slug": request.tenant.slug, **kwargs})


# -- inventory -------------------------------------------------------------------------------


def endpoint_list(request):
    form = EndpointFilterForm(request.GET or None)
    queryset = selectors.endpoint_list(**form.selector_kwargs())
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "endpoints/endpoint_list.html",
        {
            "form": form,
            "page": page,
            "online_cutoff": selectors.online_cutoff(),
            "choices": selectors.endpoint_filter_choices(),
        },
    )


def endpoint_detail(request, pk: int):
    endpoint = get_object_or_404(Endpoint.objects.prefetch_related("user_groups", "tags"), pk=pk)
    recent_processes = list(
        Observation.objects.filter(
            endpoint=endpoint, kind="process_event", action="start"
        ).order_by("-observed_at", "-id")[:15]
    )
    batches = list(TelemetryBatch.objects.filter(endpoint=endpoint).order_by("-received_at")[:5])
    return render(
        request,
        "endpoints/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "online": bool(
                endpoint.last_seen_at and endpoint.last_seen_at >= selectors.online_cutoff()
            ),
            "alerts": selectors.endpoint_recent_alerts(endpoint),
            "recent_processes": recent_processes,
            "batches": batches,
        },
    )


# -- timeline and process tree -----------------------------------------------------------------


def _keyset(value: str | None) -> tuple[dt.datetime, int] | None:
    if not value or "|" not in value:
        return None
    when, _, pk = value.rpartition("|")
    try:
        return dt.datetime.fromisoformat(when), int(pk)
    except ValueError:
        return None


def endpoint_timeline(request, pk: int):
    endpoint = get_object_or_404(Endpoint, pk=pk)
    form = TimelineFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    page = selectors.timeline(
        endpoint=endpoint,
        kinds=data.get("kind") or (),
        since=data.get("since"),
        until=data.get("until"),
        text=data.get("text") or "",
        before=_keyset(request.GET.get("before")),
    )
    older_url = None
    if page.older:
        query = request.GET.copy()
        query["before"] = f"{page.older[0].isoformat()}|{page.older[1]}"
        older_url = "?" + query.urlencode()
    return render(
        request,
        "endpoints/endpoint_timeline.html",
        {
            "endpoint": endpoint,
            "form": form,
            "page": page,
            "older_url": older_url,
            "highlight": request.GET.get("highlight", ""),
        },
    )


def observation_detail(request, pk: int):
    """One observation (alerts link here through `raw.observation_id`)."""
    observation = get_object_or_404(Observation.objects.select_related("endpoint"), pk=pk)
    fields = [
        (f.name, getattr(observation, f.name))
        for f in Observation._meta.concrete_fields
        if f.name not in ("tenant", "endpoint", "batch", "id")
        and getattr(observation, f.name) not in (None, "")
    ]
    around = observation.observed_at
    timeline_query = urlencode(
        {
            "since": (around - dt.timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S"),
            "until": (around + dt.timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S"),
            "highlight": observation.pk,
        }
    )
    return render(
        request,
        "endpoints/observation_detail.html",
        {
            "observation": observation,
            "endpoint": observation.endpoint,
            "fields": fields,
            "timeline_query": timeline_query,
        },
    )


def process_tree(request, pk: int):
    observation = get_object_or_404(Observation.objects.select_related("endpoint"), pk=pk)
    tree = selectors.process_tree(observation)
    return render(
        request,
        "endpoints/process_tree.html",
        {"observation": observation, "endpoint": observation.endpoint, "tree": tree},
    )


# -- stacking --------------------------------------------------------------------------------


def _ioc_from_stacking():
    """intel's `ioc_add_from_stacking`, once the intel app provides it (else None)."""
    try:
        module = importlib.import_module("intel.services")
    except ImportError:
        return None
    return getattr(module, "ioc_add_from_stacking", None)


def stacking(request):
    form = StackFilterForm(request.GET or None)
    kwargs = form.selector_kwargs()
    try:
        offset = max(int(request.GET.get("offset", 0)), 0)
    except ValueError:
        offset = 0
    page = selectors.stack(**kwargs, offset=offset, limit=50)
    query = request.GET.copy()
    query.pop("offset", None)
    return render(
        request,
        "endpoints/stacking.html",
        {
            "form": form,
            "category": kwargs["category"],
            "page": page,
            "query": query.urlencode(),
            "next_offset": offset + page.limit if page.has_more else None,
            "prev_offset": max(offset - page.limit, 0) if offset else None,
            "can_add_ioc": can_write(request) and _ioc_from_stacking() is not None,
            "choices": selectors.endpoint_filter_choices(),
        },
    )


def stacking_endpoints(request):
    key = request.GET.get("key", "")
    item = selectors.stack_item(key) if key else None
    if item is None:
        raise Http404("No such item.")
    form = StackFilterForm(request.GET or None)
    kwargs = form.selector_kwargs()
    rows = selectors.stack_endpoints(
        key=key, os_family=kwargs["os_family"], groups=kwargs["groups"], tags=kwargs["tags"]
    )
    return render(
        request,
        "endpoints/stacking_endpoints.html",
        {
            "item": item,
            "rows": rows,
            "can_add_ioc": can_write(request) and _ioc_from_stacking() is not None,
        },
    )


@require_POST
@role_required(WRITERS)
def stacking_add_ioc(request):
    add = _ioc_from_stacking()
    item = selectors.stack_item(request.POST.get("key", ""))
    if add is None or item is None:
        raise Http404("No such item.")
    if not item["sha256"]:
        messages.error(request, "This item has no SHA-256 to add.")
    else:
        add(
            sha256=item["sha256"],
            name=item["name"],
            path=item["path"],
            category=item["category"],
            user=request.user,
        )
        messages.success(request, f"SHA-256 of {item['name']} added as an IOC.")
    return HttpResponseRedirect(safe_next(request, _url(request, "endpoints:stacking")))


# -- detection rules -------------------------------------------------------------------------


def rule_list(request):
    upload = RuleUploadForm()
    if request.method == "POST":
        if not can_write(request):
            raise Http404
        upload = RuleUploadForm(request.POST, request.FILES)
        if upload.is_valid():
            try:
                rule = services.rule_upload(
                    yaml_text=upload.cleaned_data["yaml"], user=request.user
                )
            except ValidationError as exc:
                upload.add_error(None, exc.message_dict.get("yaml", exc.messages))
            else:
                messages.success(request, f"Rule “{rule.title}” saved.")
                return redirect(_url(request, "endpoints:rule-detail", pk=rule.pk))
    services.rules_ensure_builtin()
    rules = DetectionRule.objects.annotate(exception_count=Count("exceptions")).order_by(
        "phase", "title"
    )
    return render(request, "endpoints/rule_list.html", {"rules": rules, "upload": upload})


def rule_detail(request, pk: int):
    rule = get_object_or_404(DetectionRule, pk=pk)
    form = RuleExceptionForm()
    if request.method == "POST":
        if not can_write(request):
            raise Http404
        form = RuleExceptionForm(request.POST)
        if form.is_valid():
            try:
                services.rule_exception_add(rule=rule, user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, "Exception added.")
                return redirect(_url(request, "endpoints:rule-detail", pk=rule.pk))
    exceptions = RuleException.objects.filter(rule=rule).order_by("field", "value")
    return render(
        request,
        "endpoints/rule_detail.html",
        {"rule": rule, "form": form, "exceptions": exceptions},
    )


@require_POST
@role_required(WRITERS)
def rule_toggle(request, pk: int):
    rule = get_object_or_404(DetectionRule, pk=pk)
    services.rule_set_enabled(rule=rule, enabled=not rule.enabled)
    messages.success(request, f"“{rule.title}” {'enabled' if rule.enabled else 'disabled'}.")
    return redirect(safe_next(request, _url(request, "endpoints:rule-list")))


@require_POST
@role_required(WRITERS)
def rule_delete(request, pk: int):
    rule = get_object_or_404(DetectionRule, pk=pk)
    try:
        services.rule_delete(rule=rule)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(_url(request, "endpoints:rule-detail", pk=rule.pk))
    messages.success(request, f"Rule “{rule.title}” deleted.")
    return redirect(_url(request, "endpoints:rule-list"))


@require_POST
@role_required(WRITERS)
def rule_exception_delete(request, pk: int):
    exception = get_object_or_404(RuleException.objects.select_related("rule"), pk=pk)
    rule_pk = exception.rule_id
    services.rule_exception_remove(exception=exception)
    messages.success(request, "Exception removed.")
    return redirect(_url(request, "endpoints:rule-detail", pk=rule_pk))


# -- agent enrolment -------------------------------------------------------------------------


@role_required(roles.ADMINS)
def enrolment(request):
    secret = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "rotate":
                secret = services.enrolment_secret_rotate()
                messages.success(request, "Enrolment secret rotated; the old one no longer works.")
            else:
                secret = services.enrolment_secret_reveal()
        except services.SecretUnavailable as exc:
            messages.error(request, str(exc))
    return render(
        request,
        "endpoints/enrolment.html",
        {
            "secret": secret,
            "info": services.enrolment_secret_info(),
            "api_url": request.build_absolute_uri("/api/v1/agent/enrol/"),
        },
    )
