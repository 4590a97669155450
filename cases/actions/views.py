"""Browser pages of response actions: the approval queue, request forms, an action's page
with live status, bulk responses with live progress, and the approval settings.

Views parse, check the role and call one service (POST/redirect/GET); htmx swaps rows and
progress in place. Leads approve with `y` and reject with `n` (a reason is required).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from endpoints.models import Endpoint
from tenancy import roles
from tenancy.permissions import request_role, role_required

from .. import conf
from ..api.filters import ActionFilterSet
from ..models import BulkAction, Case, ResponseAction
from ..views import _attempt, _error_text, _form_errors, _querystring
from . import services
from .forms import ActionForm, ApprovalSettingsForm, BulkActionForm, OutcomeForm
from .registry import ACTION_TYPES
from .selectors import (
    action_list_queryset,
    bulk_children,
    bulk_list_queryset,
    bulk_progress,
    bulk_targets,
)

WRITERS = roles.WRITERS - {roles.AUDITOR, roles.INTEGRATION}
writers_only = role_required(WRITERS)
leads_only = role_required(roles.LEADS)
PAGE_SIZE = 50
PREVIEW = 50


def _url(request, name: str, **kwargs) -> str:
    return reverse(f"cases:{name}", kwargs={"tenant_slug": request.tenant.slug, **kwargs})


def _is_lead(request) -> bool:
    return request_role(request) in roles.LEADS


def _case_by_ref(ref: str | None) -> Case | None:
    ref = (ref or "").strip()
    if not ref:
        return None
    case = (
        Case.objects.filter(pk=int(ref)).first()
        if ref.isdigit()
        else Case.objects.filter(number__iexact=ref).first()
    )
    if case is None:
        raise ValidationError({"case": f"no case {ref!r}"})
    return case


def _endpoint_by_ref(ref: str | None) -> Endpoint | None:
    ref = (ref or "").strip()
    if not ref:
        return None
    endpoint = (
        Endpoint.objects.filter(pk=int(ref)).first()
        if ref.isdigit()
        else Endpoint.objects.filter(hostname__iexact=ref).first()
    )
    if endpoint is None:
        raise ValidationError({"endpoint": f"no endpoint {ref!r}"})
    return endpoint


def _case_endpoints(case: Case | None) -> list[Endpoint]:
    """The case's endpoints (from its alerts and links), offered in the request form."""
    if case is None:
        return []
    from django.contrib.contenttypes.models import ContentType

    from ..models import Alert, CaseLink

    linked = CaseLink.objects.filter(
        case=case, content_type=ContentType.objects.get_for_model(Endpoint)
    ).values_list("object_id", flat=True)
    ids = set(
        Alert.objects.filter(case=case, endpoint__isnull=False).values_list(
            "endpoint_id", flat=True
        )
    )
    ids |= {int(pk) for pk in linked if pk.isdigit()}
    return list(Endpoint.objects.filter(pk__in=ids).order_by("hostname"))


def _yara_iocs():
    from intel.models import IOC

    return list(IOC.objects.active().filter(type="yara").order_by("-id")[:100])


# =============================================================================================
# the list (approval queue)
# =============================================================================================
_TABS = {
    ("awaiting_approval",): "approval",
    ("open",): "open",
    ("cancelled", "expired", "failed", "succeeded"): "finished",
}


@require_GET
def action_list(request):
    """Every action, filterable; leads land on what awaits their approval."""
    data = request.GET.copy()
    if "status" not in data:
        data.setlist("status", ["awaiting_approval"] if _is_lead(request) else ["open"])
    data.setdefault("ordering", "-created_at")
    filterset = ActionFilterSet(data, queryset=action_list_queryset(), request=request)
    rows = filterset.qs if filterset.is_valid() else ResponseAction.objects.none()
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "cases/actions/action_list.html",
        {
            "filter": filterset,
            "page": page,
            "querystring": _querystring(request),
            "is_lead": _is_lead(request),
            "statuses": data.getlist("status"),
            "tab": _TABS.get(tuple(sorted(data.getlist("status"))), ""),
            "bulks": bulk_list_queryset().exclude(status__in=["finished", "cancelled"])[:10],
        },
    )


@require_GET
def action_row(request, pk: int):
    """One row, re-rendered (htmx polls open rows until they finish)."""
    action = get_object_or_404(action_list_queryset(), pk=pk)
    return render(
        request,
        "cases/actions/_action_row.html",
        {
            "action": action,
            "compact": request.GET.get("compact") == "1",
            "is_lead": _is_lead(request),
        },
    )


# =============================================================================================
# requesting
# =============================================================================================
_PREFILL = ("type", "case", "endpoint", "reason", *ActionForm.parameter_fields())


@require_http_methods(["GET", "POST"])
@writers_only
def action_new(request):
    """Request one action; opened from a case, an alert, an endpoint or sweep results with
    the type and parameters filled in (`?type=kill_process&endpoint=12&sha256=…`)."""
    yara = _yara_iocs()
    if request.method == "POST":
        form = ActionForm(request.POST, yara_iocs=yara)
    else:
        initial = {key: request.GET[key] for key in _PREFILL if request.GET.get(key)}
        form = ActionForm(initial=initial, yara_iocs=yara)
    case = None
    try:
        case = _case_by_ref(form.data.get("case") if form.is_bound else request.GET.get("case"))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, _form_errors(form))
        else:
            action = _attempt(request, lambda: _request_from_form(form))
            if action is not None:
                messages.success(
                    request,
                    f"{services.describe(action)}: "
                    + (
                        "awaits a lead's approval."
                        if action.status == "awaiting_approval"
                        else f"{action.get_status_display().lower()}."
                    ),
                )
                return redirect(_url(request, "action-detail", pk=action.pk))
    return render(
        request,
        "cases/actions/action_form.html",
        {
            "form": form,
            "param_fields": form.parameter_widgets(),
            "case": case,
            "case_endpoints": _case_endpoints(case),
            "specs": ACTION_TYPES,
            "approval_types": conf.approval_required_types(request.tenant),
        },
    )


def _request_from_form(form: ActionForm) -> ResponseAction:
    data = form.cleaned_data
    return services.action_request(
        type=data["type"],
        case=_case_by_ref(data["case"]),
        endpoint=_endpoint_by_ref(data["endpoint"]),
        parameters=form.parameters(),
        reason=data["reason"],
    )


def _bulk_target(form: BulkActionForm) -> dict:
    """Exactly one target, in this order: listed ids, a sweep (and one of its IOCs), an
    IOC, or every endpoint where a hash runs."""
    data = form.cleaned_data
    if form.endpoint_ids():
        return {"endpoints": form.endpoint_ids()}
    if data["sweep"]:
        return {"sweep": data["sweep"], "ioc": data["ioc"]}
    if data["ioc"]:
        return {"ioc": data["ioc"]}
    return {"sha256": data["sha256"].strip()}


@require_http_methods(["GET", "POST"])
@writers_only
def bulk_action_new(request):
    """One response for many endpoints: where a hash runs, what a sweep or an IOC hit, or
    a list. The page shows the endpoints before anything is requested."""
    source = request.POST if request.method == "POST" else request.GET
    form = BulkActionForm(source or None)
    preview, problem, count = [], "", 0
    if form.is_valid():
        try:
            _, ids = bulk_targets(**_bulk_target(form))
            count = len(ids)
            preview = list(Endpoint.objects.filter(pk__in=ids[:PREVIEW]).order_by("hostname"))
        except ValidationError as exc:
            problem = _error_text(exc)
    if request.method == "POST" and form.is_valid() and not problem:
        data = form.cleaned_data
        sha256 = data["sha256"].strip()
        bulk = _attempt(
            request,
            lambda: services.bulk_action_request(
                type=data["type"],
                case=_case_by_ref(data["case"]),
                reason=data["reason"],
                parameters={"sha256": sha256} if data["type"] == "kill_process" and sha256 else {},
                **_bulk_target(form),
            ),
        )
        if bulk is not None:
            messages.success(request, f"{bulk}: requested.")
            return redirect(_url(request, "bulk-action-detail", pk=bulk.pk))
    return render(
        request,
        "cases/actions/bulk_form.html",
        {"form": form, "preview": preview, "problem": problem, "count": count},
    )


# =============================================================================================
# one action
# =============================================================================================
@require_GET
def action_detail(request, pk: int):
    action = get_object_or_404(action_list_queryset().select_related("retry_of", "task"), pk=pk)
    attempts = list(
        ResponseAction.objects.filter(pk__in=_chain_ids(action)).order_by("attempt", "id")
    )
    return render(
        request,
        "cases/actions/action_detail.html",
        {
            "action": action,
            "spec": ACTION_TYPES[action.type],
            "attempts": attempts,
            "is_lead": _is_lead(request),
            "retried": any(a.retry_of_id == action.pk for a in attempts),
            "outcome_form": OutcomeForm(),
        },
    )


def _chain_ids(action: ResponseAction) -> set[int]:
    """Every attempt of this action (its retry chain, both ways)."""
    ids = {action.pk}
    current = action
    while current.retry_of_id:
        ids.add(current.retry_of_id)
        current = ResponseAction.objects.only("retry_of").get(pk=current.retry_of_id)
    frontier = [action.pk]
    while frontier:
        frontier = list(
            ResponseAction.objects.filter(retry_of_id__in=frontier).values_list("pk", flat=True)
        )
        ids.update(frontier)
    return ids


@require_GET
def action_status(request, pk: int):
    """The status panel of an action's page (htmx polls it while the action is open)."""
    action = get_object_or_404(action_list_queryset(), pk=pk)
    return render(request, "cases/actions/_action_status.html", {"action": action})


def _run_op(request, calls: dict):
    """The form's `op` run through `_attempt`: (op, the row it returned or None).

    Approving and rejecting are for leads (403 otherwise); an unknown op is a 404."""
    op = request.POST.get("op", "")
    if op in ("approve", "reject") and not _is_lead(request):
        raise PermissionDenied("Only leads and admins approve or reject response actions.")
    if op not in calls:
        raise Http404("unknown operation")
    return op, _attempt(request, calls[op])


@require_POST
@writers_only
def action_do(request, pk: int):
    """approve / reject (leads) · cancel · retry · outcome — one form each."""
    action = get_object_or_404(ResponseAction, pk=pk)
    reason = request.POST.get("reason", "")
    op, done = _run_op(
        request,
        {
            "approve": lambda: services.action_approve(action=action),
            "reject": lambda: services.action_reject(action=action, reason=reason),
            "cancel": lambda: services.action_cancel(action=action, reason=reason),
            "retry": lambda: services.action_retry(action=action),
            "outcome": lambda: _outcome(request, action),
        },
    )
    if done is not None and request.headers.get("HX-Request"):
        row = action_list_queryset().get(pk=done.pk if op != "retry" else action.pk)
        return render(
            request,
            "cases/actions/_action_row.html",
            {
                "action": row,
                "compact": request.POST.get("compact") == "1",
                "is_lead": _is_lead(request),
            },
        )
    if done is not None:
        messages.success(
            request, f"{services.describe(done)}: {done.get_status_display().lower()}."
        )
        if op == "retry":
            return redirect(_url(request, "action-detail", pk=done.pk))
    if request.headers.get("HX-Request"):
        row = action_list_queryset().get(pk=action.pk)
        return render(
            request,
            "cases/actions/_action_row.html",
            {
                "action": row,
                "compact": request.POST.get("compact") == "1",
                "is_lead": _is_lead(request),
            },
        )
    return _back(request, _url(request, "action-detail", pk=action.pk))


def _outcome(request, action):
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        raise ValidationError(_form_errors(form))
    return services.action_record_outcome(action=action, **form.cleaned_data)


def _back(request, fallback: str):
    from ..views import _back as back

    return back(request, fallback)


# =============================================================================================
# bulk responses
# =============================================================================================
@require_GET
def bulk_action_detail(request, pk: int):
    bulk = get_object_or_404(bulk_list_queryset(), pk=pk)
    page = Paginator(bulk_children(bulk), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "cases/actions/bulk_detail.html",
        {
            "bulk": bulk,
            "progress": bulk_progress(bulk),
            "page": page,
            "is_lead": _is_lead(request),
            "spec": ACTION_TYPES[bulk.type],
        },
    )


@require_GET
def bulk_action_progress(request, pk: int):
    bulk = get_object_or_404(bulk_list_queryset(), pk=pk)
    return render(
        request,
        "cases/actions/_bulk_progress.html",
        {"bulk": bulk, "progress": bulk_progress(bulk)},
    )


@require_POST
@writers_only
def bulk_action_do(request, pk: int):
    bulk = get_object_or_404(BulkAction, pk=pk)
    reason = request.POST.get("reason", "")
    _op, done = _run_op(
        request,
        {
            "approve": lambda: services.bulk_action_approve(bulk=bulk),
            "reject": lambda: services.bulk_action_reject(bulk=bulk, reason=reason),
            "cancel": lambda: services.bulk_action_cancel(bulk=bulk, reason=reason),
        },
    )
    if done is not None:
        messages.success(request, f"{done}: {done.get_status_display().lower()}.")
    return redirect(_url(request, "bulk-action-detail", pk=bulk.pk))


# =============================================================================================
# settings
# =============================================================================================
@require_http_methods(["GET", "POST"])
def action_settings(request):
    """Which action types need a lead's approval (admins change it; everyone reads)."""
    is_admin = request_role(request) in roles.ADMINS
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied("Only admins change the approval settings.")
        form = ApprovalSettingsForm(request.POST)
        if form.is_valid():
            done = _attempt(
                request,
                lambda: services.action_settings_update(**form.cleaned_data),
                "Approval settings saved.",
            )
            if done is not None:
                return redirect(_url(request, "action-settings"))
    current = sorted(conf.approval_required_types(request.tenant))
    form = ApprovalSettingsForm(initial={"approval_required_types": current})
    return render(
        request,
        "cases/actions/settings.html",
        {
            "form": form,
            "is_admin": is_admin,
            "specs": ACTION_TYPES,
            "current": current,
            "windows": {
                "delivery": conf.action_delivery_window(request.tenant),
                "approval": conf.action_approval_window(request.tenant),
                "result": conf.action_result_timeout(request.tenant),
            },
        },
    )
