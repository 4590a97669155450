"""Browser pages of the cases app: the alert queue, the case list, the case page, settings.

Server-rendered, keyboard-first, htmx for row updates. Views parse input, check the role,
call one service and redirect (POST/redirect/GET); a refused change comes back as a
message. Auditors see every page with the write controls hidden, and their POSTs are
refused (403) like any other role without the right.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import APIException

from tenancy import roles
from tenancy.permissions import request_role, role_required

from . import conf, services
from .api.filters import AlertFilterSet, CaseFilterSet
from .api.views import evidence_file_response
from .forms import (
    AssignForm,
    CaseForm,
    CorrectionForm,
    DismissForm,
    EvidenceForm,
    GroupingRuleForm,
    MergeForm,
    NoteForm,
    ReasonForm,
    SplitForm,
    TaskForm,
    TransitionForm,
    WebhookForm,
)
from .models import (
    ALERT_QUEUE_STATUSES,
    Alert,
    Case,
    DismissReason,
    Evidence,
    GroupingRule,
    Note,
    Resolution,
    SavedFilter,
    Task,
    Webhook,
    WebhookDelivery,
)
from .pagination import DeferredJoinPaginator
from .selectors import (
    alert_list_queryset,
    assignable_members,
    case_list_queryset,
    case_page,
    saved_filters,
)

CASE_WRITERS = roles.WRITERS - {roles.AUDITOR, roles.INTEGRATION}
writers_only = role_required(CASE_WRITERS)
leads_only = role_required(roles.LEADS)
admins_only = role_required(roles.ADMINS)
PAGE_SIZE = 50


def _url(request, name: str, **kwargs) -> str:
    return reverse(f"cases:{name}", kwargs={"tenant_slug": request.tenant.slug, **kwargs})


def _back(request, fallback: str):
    """Redirect to the `next` the form carried (same site only), else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(
                f"{field}: {' '.join(messages_)}" if field != "__all__" else " ".join(messages_)
                for field, messages_ in exc.message_dict.items()
            )
        return " ".join(exc.messages)
    if isinstance(exc, APIException):
        return str(exc.detail)
    return str(exc)


def _attempt(request, call, success: str | None = None):
    """Run a service call; a refusal becomes an error message. Returns the result or None."""
    try:
        result = call()
    except (ValidationError, APIException, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
        return None
    if success:
        messages.success(request, success)
    return result


def _version(request) -> int | None:
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


def _form_errors(form) -> str:
    return "; ".join(
        f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
        for name, errors in form.errors.items()
    )


def _paginate(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _querystring(request, drop=("page",)) -> str:
    params = request.GET.copy()
    for key in drop:
        params.pop(key, None)
    return params.urlencode()


# =============================================================================================
# alert queue
# =============================================================================================
def _alert_filter(request) -> AlertFilterSet:
    data = request.GET.copy()
    if "status" not in data:
        data.setlist("status", list(ALERT_QUEUE_STATUSES))
    if "ordering" not in data:
        data["ordering"] = "-severity"
    return AlertFilterSet(data, queryset=alert_list_queryset(), request=request)


@require_GET
def alert_list(request):
    """The triage queue: j/k to move, a acknowledge, p promote, d dismiss, x select."""
    filterset = _alert_filter(request)
    page = _paginate(request, filterset.qs if filterset.is_valid() else Alert.objects.none())
    return render(
        request,
        "cases/alert_list.html",
        {
            "filter": filterset,
            "page": page,
            "dismiss_reasons": DismissReason.choices,
            "querystring": _querystring(request),
            "next": request.get_full_path(),
        },
    )


@require_GET
def alert_detail(request, pk: int):
    alert = get_object_or_404(alert_list_queryset(), pk=pk)
    return render(
        request,
        "cases/alert_detail.html",
        {"alert": alert, "dismiss_reasons": DismissReason.choices},
    )


def _row_or_back(request, alert_id: int):
    """htmx gets the re-rendered queue row; a plain form post goes back."""
    if request.headers.get("HX-Request"):
        alert = alert_list_queryset().get(pk=alert_id)
        return render(
            request, "cases/_alert_row.html", {"alert": alert, "next": request.POST.get("next", "")}
        )
    return _back(request, _url(request, "alert-list"))


@require_POST
@writers_only
def alert_action(request, pk: int):
    """acknowledge / promote / dismiss / restore one alert."""
    alert = get_object_or_404(Alert, pk=pk)
    action = request.POST.get("action")
    if action == "acknowledge":
        _attempt(request, lambda: services.alert_acknowledge(alerts=[alert]))
        return _row_or_back(request, alert.pk)
    if action == "restore":
        _attempt(request, lambda: services.alert_restore(alerts=[alert]), "Alert restored.")
        return _row_or_back(request, alert.pk)
    if action == "dismiss":
        reason = request.POST.get("reason", "")
        _attempt(
            request,
            lambda: services.alert_dismiss(
                alerts=[alert], reason=reason, note=request.POST.get("note", "")
            ),
        )
        return _row_or_back(request, alert.pk)
    if action == "promote":
        case = _attempt(request, lambda: services.alert_promote(alerts=[alert]))
        if case is None:
            return _row_or_back(request, alert.pk)
        messages.success(request, f"{case.number} opened from the alert.")
        url = _url(request, "case-detail", pk=case.pk)
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)
    raise Http404("unknown action")


@require_POST
@writers_only
def alert_bulk(request):
    """The selected alerts: acknowledge, dismiss with a reason, or promote into one case."""
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    action = request.POST.get("action")
    fallback = _url(request, "alert-list")
    if not ids:
        messages.error(request, "Select alerts first (x on a row, or the boxes).")
        return _back(request, fallback)
    if action == "acknowledge":
        _attempt(
            request,
            lambda: services.alert_acknowledge(alerts=ids),
            f"{len(ids)} alerts acknowledged.",
        )
    elif action == "dismiss":
        form = DismissForm(request.POST)
        form.fields["ids"].choices = [(i, i) for i in ids]
        if form.is_valid():
            _attempt(
                request,
                lambda: services.alert_dismiss(
                    alerts=ids, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]
                ),
                f"{len(ids)} alerts dismissed ({form.cleaned_data['reason']}).",
            )
        else:
            messages.error(request, _form_errors(form))
    elif action == "promote":
        case = _attempt(
            request, lambda: services.alert_promote(alerts=ids, title=request.POST.get("title", ""))
        )
        if case is not None:
            messages.success(request, f"{case.number} opened with {len(ids)} alerts.")
            return redirect(_url(request, "case-detail", pk=case.pk))
    elif action == "add":
        number = request.POST.get("case_number", "").strip()
        case = Case.objects.filter(number__iexact=number).first()
        if case is None:
            messages.error(request, f"No case {number!r}.")
        else:
            done = _attempt(
                request,
                lambda: services.alert_promote(alerts=ids, case=case),
                f"{len(ids)} alerts added to {case.number}.",
            )
            if done is not None:
                return redirect(_url(request, "case-detail", pk=case.pk))
    else:
        messages.error(request, "Unknown bulk action.")
    return _back(request, fallback)


# =============================================================================================
# case list, bulk actions, saved filters
# =============================================================================================
def _case_filter(request) -> CaseFilterSet:
    data = request.GET.copy()
    statuses = data.getlist("status")
    if not statuses:
        data.setlist("status", ["open"])
    elif "any" in statuses:
        data.setlist("status", [s for s in statuses if s != "any"])
    data.setdefault("ordering", "-detected_at")
    return CaseFilterSet(data, queryset=case_list_queryset(), request=request)


@require_GET
def case_list(request):
    filterset = _case_filter(request)
    valid = filterset.is_valid()
    rows = filterset.qs if valid else Case.objects.none()
    page = DeferredJoinPaginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "cases/case_list.html",
        {
            "filter": filterset,
            "page": page,
            "members": assignable_members(),
            "saved": saved_filters(request.user),
            "resolutions": Resolution.choices,
            "querystring": _querystring(request),
            "current_query": _querystring(request, drop=("page",)),
            # rows link to "<case_url><pk>/": one reverse() per page, not two per row
            "case_url": _url(request, "case-list"),
            "next": request.get_full_path(),
        },
    )


@require_POST
@writers_only
def case_bulk(request):
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    fallback = _url(request, "case-list")
    action = request.POST.get("action")
    kwargs: dict = {}
    if action == "assign":
        value = request.POST.get("assignee", "")
        kwargs["assignee"] = int(value) if value.isdigit() else None
        label = "assigned"
    elif action == "close":
        kwargs.update(
            status="closed",
            resolution=request.POST.get("resolution", ""),
            reason=request.POST.get("reason", ""),
        )
        label = "closed"
    else:
        messages.error(request, "Unknown bulk action.")
        return _back(request, fallback)
    if not ids:
        messages.error(request, "Select cases first (x on a row, or the boxes).")
        return _back(request, fallback)
    _attempt(
        request,
        lambda: services.case_bulk_update(cases=ids, **kwargs),
        f"{len(ids)} cases {label}.",
    )
    return _back(request, fallback)


@require_POST
@role_required(roles.HUMAN)
def saved_filter_save(request):
    name = request.POST.get("name", "")
    query = request.POST.get("query", "")
    _attempt(
        request,
        lambda: services.saved_filter_save(user=request.user, name=name, query=query),
        f"Filter \u201c{name}\u201d saved.",
    )
    return redirect(
        f"{_url(request, 'case-list')}?{query}" if query else _url(request, "case-list")
    )


@require_POST
@role_required(roles.HUMAN)
def saved_filter_delete(request, pk: int):
    saved = get_object_or_404(SavedFilter, pk=pk, user=request.user)
    services.saved_filter_delete(saved=saved)
    messages.success(request, f"Filter \u201c{saved.name}\u201d deleted.")
    return redirect(_url(request, "case-list"))


# =============================================================================================
# case create / edit / page / actions
# =============================================================================================
@require_http_methods(["GET", "POST"])
@writers_only
def case_create(request):
    form = CaseForm(request.POST or None, tenant=request.tenant, creating=True)
    if request.method == "POST" and form.is_valid():
        values = form.service_values()
        case = _attempt(
            request,
            lambda: services.case_create(**values, detected_at=form.cleaned_data["detected_at"]),
        )
        if case is not None:
            messages.success(request, f"{case.number} opened.")
            return redirect(_url(request, "case-detail", pk=case.pk))
    return render(request, "cases/case_form.html", {"form": form, "case": None})


@require_http_methods(["GET", "POST"])
@writers_only
def case_edit(request, pk: int):
    case = get_object_or_404(case_list_queryset(), pk=pk)
    initial = {
        "title": case.title,
        "description": case.description,
        "severity": case.severity,
        "tlp": case.tlp,
        "phase": case.phase,
        "assignee": case.assignee,
        "tags": ", ".join(tag.name for tag in case.tag_list),
        "version": case.version,
    }
    form = CaseForm(request.POST or None, initial=initial, tenant=request.tenant, creating=False)
    if request.method == "POST" and form.is_valid():
        version, values = form.cleaned_data.get("version"), form.service_values()
        updated = _attempt(
            request,
            lambda: services.case_update(case=case, expected_version=version, **values),
        )
        if updated is not None:
            messages.success(request, f"{updated.number} saved.")
            return redirect(_url(request, "case-detail", pk=case.pk))
    return render(request, "cases/case_form.html", {"form": form, "case": case})


@require_GET
def case_detail(request, pk: int):
    try:
        data = case_page(pk, full_timeline=request.GET.get("timeline") == "all")
    except Case.DoesNotExist as exc:
        raise Http404("No such case.") from exc
    from .actions.selectors import case_actions, remediation_state

    actions = case_actions(data.case)
    return render(
        request,
        "cases/case_detail.html",
        {
            "p": data,
            "case": data.case,
            "actions": actions,
            "remediation": remediation_state(data.case, tasks=data.tasks, actions=actions),
            "case_endpoints": sorted(
                {alert.endpoint for alert in data.alerts if alert.endpoint_id},
                key=lambda endpoint: endpoint.hostname,
            ),
            "resolutions": Resolution.choices,
            "milestone_names": [c.clock.milestone for c in data.clocks],
            "is_lead": request_role(request) in roles.LEADS,
            "evidence_limit": conf.evidence_max_bytes(request.tenant),
        },
    )


def _case_action(request, case: Case, action: str):
    """Dispatch one form of the case page to its service; returns a success message."""
    post = request.POST
    version = _version(request)
    if action == "transition":
        form = TransitionForm(post)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        data = form.cleaned_data
        done = services.case_transition(
            case=case,
            status=data["status"],
            resolution=data["resolution"],
            reason=data["reason"],
            expected_version=version,
        )
        return f"{done.number} is now {done.get_status_display().lower()}."
    if action == "scope_done":
        services.case_scope_done(case=case, expected_version=version)
        return "Scoping recorded."
    if action in ("reopen", "pause"):
        form = ReasonForm(post)
        if not form.is_valid():
            raise ValidationError({"reason": "give a reason"})
        verb = services.case_reopen if action == "reopen" else services.case_pause
        verb(case=case, reason=form.cleaned_data["reason"], expected_version=version)
        return "Case reopened." if action == "reopen" else "SLA clocks paused."
    if action == "resume":
        services.case_resume(case=case, expected_version=version)
        return "SLA clocks running again."
    if action == "correct":
        if request_role(request) not in roles.LEADS:
            raise PermissionDenied("Only leads and admins correct milestones.")
        form = CorrectionForm(post)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        data = form.cleaned_data
        services.case_correct_milestone(
            case=case,
            milestone=data["milestone"],
            value=data["value"],
            reason=data["reason"],
            expected_version=version,
        )
        return f"{data['milestone']} corrected."
    if action == "assign":
        form = AssignForm(post, tenant=request.tenant)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        services.case_assign(
            case=case, assignee=form.cleaned_data["assignee"], expected_version=version
        )
        return "Assignment saved."
    if action == "take":
        services.case_assign(case=case, assignee=request.user, expected_version=version)
        return "The case is yours."
    if action == "watch":
        watchers = list(case.watchers.values_list("pk", flat=True))
        wanted = (
            (set(watchers) - {request.user.pk})
            if request.user.pk in watchers
            else (set(watchers) | {request.user.pk})
        )
        services.case_update(case=case, watchers=sorted(wanted))
        return "Watching." if request.user.pk in wanted else "No longer watching."
    if action == "note":
        form = NoteForm(post)
        if not form.is_valid():
            raise ValidationError({"body": "write something"})
        services.note_create(case=case, body=form.cleaned_data["body"])
        return "Note added."
    if action == "task":
        form = TaskForm(post)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        data = form.cleaned_data
        services.task_create(
            case=case,
            title=data["title"],
            due_at=data["due_at"],
            is_remediation=data["is_remediation"],
        )
        return "Task added."
    if action == "evidence":
        form = EvidenceForm(post, request.FILES)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        item = services.evidence_upload(
            case=case,
            upload=form.cleaned_data["file"],
            description=form.cleaned_data["description"],
        )
        return f"{item.original_name} stored (sha256 {item.sha256[:12]}…)."
    if action == "merge":
        form = MergeForm(post)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        target = Case.objects.filter(number__iexact=form.cleaned_data["into"].strip()).first()
        if target is None:
            raise ValidationError({"into": "no such case"})
        services.case_merge(
            source=case, target=target, reason=form.cleaned_data["reason"], expected_version=version
        )
        return f"Merged into {target.number}."
    if action == "split":
        form = SplitForm(
            post, alert_ids=Alert.objects.filter(case=case).values_list("pk", flat=True)
        )
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        new_case = services.case_split(
            case=case,
            alerts=form.cleaned_data["alerts"],
            title=form.cleaned_data["title"],
            expected_version=version,
        )
        return f"{len(form.cleaned_data['alerts'])} alerts split into {new_case.number}."
    raise Http404("unknown action")


@require_POST
@writers_only
def case_action(request, pk: int):
    """Every form of the case page posts here with `action=`; one place handles refusals."""
    case = get_object_or_404(Case, pk=pk)
    action = request.POST.get("action", "")
    if action == "evidence":
        limit = conf.evidence_max_bytes(request.tenant)
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > limit + 64 * 1024:
            messages.error(request, f"The file is over the limit of {limit // (1024 * 1024)} MiB.")
            return redirect(_url(request, "case-detail", pk=case.pk))
    message = _attempt(request, lambda: _case_action(request, case, action))
    if message:
        messages.success(request, message)
    if action == "merge" and message:
        case.refresh_from_db(fields=["merged_into"])
        if case.merged_into_id:
            return redirect(_url(request, "case-detail", pk=case.merged_into_id))
    return redirect(_url(request, "case-detail", pk=case.pk))


@require_POST
@writers_only
def task_toggle(request, pk: int):
    task = get_object_or_404(Task.objects.select_related("case"), pk=pk)
    done = request.POST.get("done") == "1"
    task = _attempt(request, lambda: services.task_update(task=task, done=done)) or task
    if request.headers.get("HX-Request"):
        task = Task.objects.select_related("assignee", "done_by").get(pk=task.pk)
        return render(request, "cases/_task_row.html", {"task": task, "can_write": True})
    return redirect(_url(request, "case-detail", pk=task.case_id))


@require_http_methods(["GET", "POST"])
@writers_only
def note_edit(request, pk: int):
    note = get_object_or_404(Note.objects.select_related("case"), pk=pk)
    if note.author_id != request.user.pk:
        raise PermissionDenied("Only the author can edit a note.")
    form = NoteForm(request.POST or None, initial={"body": note.body})
    if request.method == "POST" and form.is_valid():
        done = _attempt(
            request,
            lambda: services.note_update(note=note, body=form.cleaned_data["body"]),
            "Note saved.",
        )
        if done is not None:
            return redirect(_url(request, "case-detail", pk=note.case_id) + f"#note-{note.pk}")
    return render(request, "cases/note_form.html", {"form": form, "note": note})


@require_GET
def evidence_download(request, pk: int):
    evidence = get_object_or_404(Evidence, pk=pk)
    return evidence_file_response(evidence)


# =============================================================================================
# settings: grouping rules (leads), webhooks (admins)
# =============================================================================================
@require_http_methods(["GET", "POST"])
def grouping_rules(request):
    if request.method == "POST" and request_role(request) not in roles.LEADS:
        raise PermissionDenied("Only leads and admins change grouping rules.")
    rules = services.grouping_rules_ensure()
    form = GroupingRuleForm(
        request.POST or None, initial={"order": (rules[-1].order + 10) if rules else 10}
    )
    if request.method == "POST" and form.is_valid():
        rule = _attempt(
            request, lambda: services.grouping_rule_save(**form.cleaned_data), "Rule added."
        )
        if rule is not None:
            return redirect(_url(request, "grouping-rule-list"))
    return render(
        request,
        "cases/grouping_rules.html",
        {
            "rules": GroupingRule.objects.order_by("order", "id"),
            "form": form,
            "is_lead": request_role(request) in roles.LEADS,
        },
    )


@require_http_methods(["GET", "POST"])
@leads_only
def grouping_rule_edit(request, pk: int):
    rule = get_object_or_404(GroupingRule, pk=pk)
    if request.method == "POST" and request.POST.get("action") == "delete":
        services.grouping_rule_delete(rule=rule)
        messages.success(request, f"Rule \u201c{rule.name}\u201d deleted.")
        return redirect(_url(request, "grouping-rule-list"))
    form = GroupingRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in form.Meta.fields}
        done = _attempt(
            request, lambda: services.grouping_rule_save(rule=rule, **values), "Rule saved."
        )
        if done is not None:
            return redirect(_url(request, "grouping-rule-list"))
    return render(request, "cases/grouping_rule_form.html", {"form": form, "rule": rule})


@require_http_methods(["GET", "POST"])
@admins_only
def webhook_list(request):
    form = WebhookForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        created = _attempt(request, lambda: services.webhook_create(**form.cleaned_data))
        if created is not None:
            hook, secret = created
            messages.success(
                request,
                f"Webhook \u201c{hook.name}\u201d created. Copy its secret now: it is shown once.",
            )
            form = WebhookForm()
    return render(
        request,
        "cases/webhook_list.html",
        {"hooks": Webhook.objects.order_by("name"), "form": form, "secret": secret},
    )


@require_http_methods(["GET", "POST"])
@admins_only
def webhook_detail(request, pk: int):
    hook = get_object_or_404(Webhook, pk=pk)
    secret = None
    form = WebhookForm(
        initial={
            "name": hook.name,
            "url": hook.url,
            "events": hook.events,
            "is_active": hook.is_active,
        }
    )
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "delete":
            services.webhook_delete(webhook=hook)
            messages.success(request, "Webhook deleted.")
            return redirect(_url(request, "webhook-list"))
        if action == "rotate":
            hook, secret = services.webhook_rotate_secret(webhook=hook)
            messages.success(request, "New secret: copy it now, it is shown once.")
        elif action == "ping":
            services.webhook_ping(webhook=hook)
            messages.success(request, "Test delivery queued.")
            return redirect(_url(request, "webhook-detail", pk=hook.pk))
        elif action == "update":
            form = WebhookForm(request.POST)
            if form.is_valid() and _attempt(
                request,
                lambda: services.webhook_update(webhook=hook, **form.cleaned_data),
                "Webhook saved.",
            ):
                return redirect(_url(request, "webhook-detail", pk=hook.pk))
    deliveries = _paginate(
        request, WebhookDelivery.objects.filter(webhook=hook).order_by("-created_at", "-id")
    )
    return render(
        request,
        "cases/webhook_detail.html",
        {"hook": hook, "form": form, "secret": secret, "page": deliveries},
    )


@require_POST
@admins_only
def webhook_redeliver(request, pk: int):
    delivery = get_object_or_404(WebhookDelivery, pk=pk)
    _attempt(request, lambda: services.webhook_redeliver(delivery=delivery), "Queued again.")
    return redirect(_url(request, "webhook-detail", pk=delivery.webhook_id))
