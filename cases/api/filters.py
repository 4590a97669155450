"""FilterSets of the cases app, shared by the API and the browser lists.

Fields filter by their own names (`?status=`, `?severity=`, `?phase=`, `?external_id=`);
repeat a parameter for "any of" (`?severity=high&severity=critical`). `?search=` is text
search and `?ordering=` the sort (a bad value is a 400 naming the parameter). Choice
querysets are tenant-scoped, so another tenant's id is simply not a valid choice.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from endpoints.models import Endpoint
from metrics.clocks import PHASE_CHOICES
from metrics.targets import SEVERITY_CHOICES
from tenancy.api.fields import MAX_ID
from tenancy.api.filters import MemberFilter, UtcDateTimeFilter
from tenancy.context import current_request

from .. import sla
from ..models import (
    ACTION_OPEN_STATUSES,
    OPEN_CASE_STATUSES,
    ActionStatus,
    ActionType,
    Alert,
    AlertSource,
    AlertStatus,
    BulkAction,
    Case,
    CaseStatus,
    Evidence,
    Note,
    ResponseAction,
    Task,
    Tlp,
    WebhookDelivery,
)


def _ordering(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    """("detected_at", "Detection") -> ascending and descending choices."""
    choices = []
    for key, label in pairs:
        choices += [(f"-{key}", f"{label} (newest / highest first)"), (key, f"{label} (ascending)")]
    return choices


# Multiple-choice filters default to SELECT DISTINCT, which makes PostgreSQL sort and
# de-duplicate every matching row before the LIMIT. None of these filters joins a to-many
# relation (a case has a tag once), so they all say distinct=False.


class OrderingMixin:
    """`?ordering=` through a fixed map (public name -> columns), always ending with the id
    so pages never overlap."""

    ORDERINGS: dict[str, tuple[str, ...]] = {}

    def filter_ordering(self, queryset, name, value):
        if not value:
            return queryset
        descending = value.startswith("-")
        columns = self.ORDERINGS[value.lstrip("-")]
        order = [f"-{c}" if descending else c for c in columns]
        return queryset.order_by(*order, "-id" if descending else "id")


class AlertFilterSet(OrderingMixin, django_filters.FilterSet):
    ORDERINGS = {
        "observed_at": ("observed_at",),
        "last_seen_at": ("last_seen_at",),
        "received_at": ("received_at",),
        "severity": ("severity_rank", "observed_at"),
        "count": ("count",),
    }

    status = django_filters.MultipleChoiceFilter(distinct=False, choices=AlertStatus.choices)
    severity = django_filters.MultipleChoiceFilter(distinct=False, choices=SEVERITY_CHOICES)
    source = django_filters.MultipleChoiceFilter(distinct=False, choices=AlertSource.choices)
    phase = django_filters.MultipleChoiceFilter(distinct=False, choices=PHASE_CHOICES)
    endpoint = django_filters.ModelChoiceFilter(queryset=Endpoint.objects.all())
    case = django_filters.ModelChoiceFilter(queryset=Case.objects.all())
    in_case = django_filters.BooleanFilter(field_name="case", lookup_expr="isnull", exclude=True)
    observed_after = UtcDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    observed_before = UtcDateTimeFilter(field_name="observed_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search", max_length=200, label="Search")
    ordering = django_filters.ChoiceFilter(
        choices=_ordering(
            ("observed_at", "Observed"),
            ("last_seen_at", "Last seen"),
            ("received_at", "Received"),
            ("severity", "Severity"),
            ("count", "Count"),
        ),
        method="filter_ordering",
        label="Sort",
        empty_label=None,
    )

    class Meta:
        model = Alert
        fields = ["external_id", "dedup_key", "rule_id", "ioc_key"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(title__icontains=value)
            | Q(external_id=value)
            | Q(dedup_key=value)
            | Q(rule_id=value)
            | Q(ioc_key=value)
        )


class CaseFilterSet(OrderingMixin, django_filters.FilterSet):
    ORDERINGS = {
        "detected_at": ("detected_at",),
        "number": ("year", "seq"),
        "severity": ("severity_rank", "detected_at"),
        "updated_at": ("updated_at",),
        "created_at": ("created_at",),
        "sla_due_at": ("sla_due_at",),
    }

    status = django_filters.MultipleChoiceFilter(
        choices=[("open", "Open (not closed)"), *CaseStatus.choices],
        method="filter_status",
        distinct=False,
    )
    severity = django_filters.MultipleChoiceFilter(distinct=False, choices=SEVERITY_CHOICES)
    phase = django_filters.MultipleChoiceFilter(distinct=False, choices=PHASE_CHOICES)
    tlp = django_filters.MultipleChoiceFilter(distinct=False, choices=Tlp.choices)
    assignee = django_filters.CharFilter(
        method="filter_assignee",
        max_length=150,
        help_text='a user id or username, "me", or "none" for unassigned',
    )
    tag = django_filters.CharFilter(method="filter_tag", max_length=50)
    sla_state = django_filters.ChoiceFilter(
        choices=sla.SLA_STATES, method="filter_sla_state", label="SLA state"
    )
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact")
    detected_after = UtcDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    detected_before = UtcDateTimeFilter(field_name="detected_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search", max_length=200, label="Search")
    ordering = django_filters.ChoiceFilter(
        choices=_ordering(
            ("detected_at", "Detection"),
            ("number", "Number"),
            ("severity", "Severity"),
            ("updated_at", "Last change"),
            ("created_at", "Created"),
            ("sla_due_at", "Next SLA deadline"),
        ),
        method="filter_ordering",
        label="Sort",
        empty_label=None,
    )

    class Meta:
        model = Case
        fields = ["merged_into"]

    def filter_status(self, queryset, name, values):
        if not values:
            return queryset
        wanted = set(values)
        if "open" in wanted:
            wanted = (wanted - {"open"}) | set(OPEN_CASE_STATUSES)
        return queryset.filter(status__in=sorted(wanted))

    def filter_assignee(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value.lower() == "none":
            return queryset.filter(assignee__isnull=True)
        if value.lower() == "me":
            return queryset.filter(assignee_id=current_request().actor.user_id or -1)
        if value.isascii() and value.isdigit():  # "²".isdigit() too; int() refuses it
            user_id = int(value)  # past 64 bits the database would raise: no such user
            return queryset.filter(assignee_id=user_id) if user_id <= MAX_ID else queryset.none()
        return queryset.filter(assignee__username=value)

    def filter_tag(self, queryset, name, value):
        value = " ".join(value.strip().lower().split())
        return queryset.filter(tags__name=value) if value else queryset

    def filter_sla_state(self, queryset, name, value):
        return queryset.filter(sla.state_q(value, timezone.now())) if value else queryset

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(number__icontains=value) | Q(title__icontains=value))


class TaskFilterSet(django_filters.FilterSet):
    done = django_filters.BooleanFilter(field_name="done_at", lookup_expr="isnull", exclude=True)
    case = django_filters.ModelChoiceFilter(queryset=Case.objects.all())
    assignee = MemberFilter()

    class Meta:
        model = Task
        fields = ["case", "assignee", "phase", "is_remediation"]


class NoteFilterSet(django_filters.FilterSet):
    case = django_filters.ModelChoiceFilter(queryset=Case.objects.all())
    author = MemberFilter()

    class Meta:
        model = Note
        fields = ["case", "author"]


class EvidenceFilterSet(django_filters.FilterSet):
    case = django_filters.ModelChoiceFilter(queryset=Case.objects.all())

    class Meta:
        model = Evidence
        fields = ["case", "sha256", "content_type"]


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    class Meta:
        model = WebhookDelivery
        fields = ["webhook", "event", "status"]


class ActionFilterSet(OrderingMixin, django_filters.FilterSet):
    """Response actions: `?status=` (repeatable; `open` = not finished), `type`, `case`,
    `endpoint`, `bulk`, `requested_by` (id or `me`), `created_after`/`_before`."""

    ORDERINGS = {"created_at": ("created_at",), "updated_at": ("updated_at",)}

    status = django_filters.MultipleChoiceFilter(
        choices=[("open", "Open (not finished)"), *ActionStatus.choices],
        method="filter_status",
        distinct=False,
    )
    type = django_filters.MultipleChoiceFilter(choices=ActionType.choices, distinct=False)
    case = django_filters.ModelChoiceFilter(queryset=Case.objects.all())
    endpoint = django_filters.ModelChoiceFilter(queryset=Endpoint.objects.all())
    bulk = django_filters.ModelChoiceFilter(queryset=BulkAction.objects.all())
    requested_by = django_filters.CharFilter(
        method="filter_requested_by", max_length=20, help_text='a user id, or "me"'
    )
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.ChoiceFilter(
        choices=_ordering(("created_at", "Requested"), ("updated_at", "Last change")),
        method="filter_ordering",
        label="Sort",
        empty_label=None,
    )

    class Meta:
        model = ResponseAction
        fields = ["attempt"]

    def filter_status(self, queryset, name, values):
        if not values:
            return queryset
        wanted = set(values)
        if "open" in wanted:
            wanted = (wanted - {"open"}) | set(ACTION_OPEN_STATUSES)
        return queryset.filter(status__in=sorted(wanted))

    def filter_requested_by(self, queryset, name, value):
        value = value.strip().lower()
        if value == "me":
            return queryset.filter(requested_by_id=current_request().actor.user_id or -1)
        if value.isascii() and value.isdigit():  # as filter_assignee
            user_id = int(value)
            if user_id > MAX_ID:
                return queryset.none()
            return queryset.filter(requested_by_id=user_id)
        return queryset.none() if value else queryset


class BulkActionFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=BulkAction.Status.choices, distinct=False)
    type = django_filters.MultipleChoiceFilter(choices=ActionType.choices, distinct=False)
    case = django_filters.ModelChoiceFilter(queryset=Case.objects.all())

    class Meta:
        model = BulkAction
        fields = ["status", "type", "case"]
