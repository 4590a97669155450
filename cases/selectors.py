"""Reads of the cases app that are more than `Model.objects.filter(...)`.

Every page and API list built from these keeps a constant number of SQL queries whatever
the number of rows: related rows come with `select_related` / `prefetch_related`, and a
case page's sections are one query each.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from metrics.clocks import paused_overlap
from tenancy.context import require_tenant
from tenancy.models import Membership

from . import sla
from .models import (
    ALERT_QUEUE_STATUSES,
    Alert,
    Case,
    CaseLink,
    CaseStatus,
    Evidence,
    MilestoneChange,
    Note,
    SavedFilter,
    Tag,
    Task,
    TimelineEntry,
)
from .services import WORKING_ROLES, allowed_transitions

User = get_user_model()
TIMELINE_PAGE = 300
CASE_ALERTS_SHOWN = 500


def case_list_queryset() -> QuerySet[Case]:
    """Cases with what a list row shows: assignee and merge target joined; tags and watchers
    prefetched into plain lists (`case.tag_list`, `case.watcher_list`), which rows read
    without building a related manager per case."""
    return Case.objects.select_related("assignee", "merged_into").prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name"), to_attr="tag_list"),
        Prefetch("watchers", queryset=User.objects.order_by("username"), to_attr="watcher_list"),
    )


def alert_list_queryset() -> QuerySet[Alert]:
    return Alert.objects.select_related("endpoint", "case")


def assignable_members() -> list:
    """Users who can be given a case in this tenant (admins, leads, analysts)."""
    return [
        membership.user
        for membership in Membership.objects.select_related("user")
        .filter(role__in=WORKING_ROLES, user__is_active=True)
        .order_by("user__username")
    ]


def saved_filters(user) -> list[SavedFilter]:
    return list(SavedFilter.objects.filter(user=user).order_by("name"))


@dataclass
class LinkedObject:
    link: CaseLink
    obj: Any | None
    url: str | None
    label: str
    type_label: str


def resolve_links(links: list[CaseLink]) -> list[LinkedObject]:
    """Each link with its object (one query per object type, through the type's own,
    tenant-scoped manager) and that object's URL when it has one."""
    by_type: dict[int, list[CaseLink]] = defaultdict(list)
    for link in links:
        by_type[link.content_type_id].append(link)
    found: dict[tuple[int, str], Any] = {}
    for type_id, group in by_type.items():
        model = group[0].content_type.model_class()
        if model is None:
            continue
        ids = [link.object_id for link in group]
        for obj in model._default_manager.filter(pk__in=ids):
            found[(type_id, str(obj.pk))] = obj
    result = []
    for link in links:
        obj = found.get((link.content_type_id, link.object_id))
        url = None
        if obj is not None and hasattr(obj, "get_absolute_url"):
            try:
                url = obj.get_absolute_url()
            except Exception:  # an app's URL may not exist yet; show the label only
                url = None
        result.append(
            LinkedObject(
                link=link,
                obj=obj,
                url=url,
                label=str(obj) if obj is not None else f"{link.object_repr} (gone)",
                type_label=str(link.content_type.model_class()._meta.verbose_name)
                if link.content_type.model_class()
                else link.content_type.model,
            )
        )
    return result


@dataclass
class CasePage:
    """Everything the case page shows, loaded in a fixed number of queries."""

    case: Case
    clocks: list[sla.ClockState]
    pauses: list
    timeline: list[TimelineEntry]
    timeline_truncated: bool
    tasks: list[Task]
    notes: list[Note]
    evidence: list[Evidence]
    alerts: list[Alert]
    links: list[LinkedObject]
    milestones: list[MilestoneChange]
    merged_cases: list[Case]
    members: list
    transitions: list[str]
    sla_state: str
    now: dt.datetime
    open_remediation_tasks: int = 0
    since_detection: dt.timedelta = dt.timedelta(0)
    paused_seconds: int = 0
    extra: dict = field(default_factory=dict)


def case_page(pk: int, *, full_timeline: bool = False) -> CasePage:
    now = timezone.now()
    case = case_list_queryset().select_related("created_by").get(pk=pk)
    pauses = list(case.pauses.all())
    timeline_qs = (
        TimelineEntry.objects.filter(case=case).select_related(None).order_by("-occurred_at", "-id")
    )
    limit = None if full_timeline else TIMELINE_PAGE
    timeline = list(timeline_qs[: limit + 1] if limit else timeline_qs)
    truncated = bool(limit and len(timeline) > limit)
    end = case.closed_at or now
    paused = paused_overlap(
        sla.pause_intervals(pauses), case.detected_at, max(end, case.detected_at)
    )
    tasks = list(
        Task.objects.filter(case=case).select_related("assignee", "done_by").order_by("order", "id")
    )
    return CasePage(
        case=case,
        clocks=sla.clock_states(case, pauses, now),
        pauses=pauses,
        timeline=timeline[:limit] if limit else timeline,
        timeline_truncated=truncated,
        tasks=tasks,
        notes=list(Note.objects.filter(case=case).select_related("author").order_by("created_at")),
        evidence=list(
            Evidence.objects.filter(case=case)
            .select_related("uploaded_by")
            .prefetch_related("custody")
            .order_by("uploaded_at")
        ),
        alerts=list(
            Alert.objects.filter(case=case)
            .select_related("endpoint")
            .order_by("first_seen_at", "id")[:CASE_ALERTS_SHOWN]
        ),
        links=resolve_links(
            list(CaseLink.objects.filter(case=case).select_related("content_type"))
        ),
        milestones=list(MilestoneChange.objects.filter(case=case).order_by("at", "id")),
        merged_cases=list(Case.objects.filter(merged_into=case).only("id", "number", "title")),
        members=assignable_members(),
        transitions=allowed_transitions(case),
        sla_state=sla.state_of(case, now),
        now=now,
        open_remediation_tasks=sum(1 for t in tasks if t.is_remediation and not t.done),
        since_detection=max(end - case.detected_at - paused, dt.timedelta(0)),
        paused_seconds=int(paused.total_seconds()),
    )


def dashboard_panel(request) -> dict:
    """The cases panel of the tenant dashboard: the queue, the clocks, what is on fire."""
    require_tenant()
    now = timezone.now()
    alerts = Alert.objects.filter(status__in=ALERT_QUEUE_STATUSES).aggregate(
        new=Count("pk", filter=Q(status="new")),
        acknowledged=Count("pk", filter=Q(status="acknowledged")),
        urgent=Count("pk", filter=Q(severity_rank__gte=3)),
    )
    open_cases = Case.objects.exclude(status=CaseStatus.CLOSED)
    cases = open_cases.aggregate(
        open=Count("pk"),
        breached=Count("pk", filter=sla.state_q("breached", now)),
        at_risk=Count("pk", filter=sla.state_q("at_risk", now)),
        mine=Count("pk", filter=Q(assignee_id=request.user.pk)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
    )
    by_status = dict(
        open_cases.order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    urgent = list(
        case_list_queryset()
        .exclude(status=CaseStatus.CLOSED)
        .filter(sla.state_q("breached", now) | sla.state_q("at_risk", now))
        .order_by("-severity_rank", "detected_at")[:6]
    )
    return {
        "template": "cases/_dashboard_panel.html",
        "alerts": alerts,
        "cases": cases,
        "by_status": [
            (status, label, by_status.get(status, 0))
            for status, label in CaseStatus.choices
            if status != "closed"
        ],
        "urgent": urgent,
        "now": now,
    }
