from __future__ import annotations

import django_filters
from django import forms

from endpoints.models import MATCH_INDEX_COLUMNS, OS_FAMILIES, DetectionRule, Endpoint, Observation
from endpoints.observation_fields import FIELD_BY_NAME, KIND_CHOICES
from endpoints.selectors import endpoint_list
from tenancy.api.filters import UtcDateTimeFilter


class EndpointFilterSet(django_filters.FilterSet):
    """Inventory filters; `q` searches hostname, FQDN and IP addresses."""

    q = django_filters.CharFilter(method="_noop", help_text="hostname, FQDN or IP (substring)")
    os_family = django_filters.ChoiceFilter(choices=OS_FAMILIES, method="_noop")
    group = django_filters.CharFilter(method="_noop", help_text="user group name (exact)")
    tag = django_filters.CharFilter(method="_noop", help_text="tag name (exact)")
    online = django_filters.BooleanFilter(method="_noop")
    isolated = django_filters.BooleanFilter(method="_noop")
    privileged = django_filters.BooleanFilter(method="_noop")

    class Meta:
        model = Endpoint
        fields = ["agent_id", "hostname"]

    def _noop(self, queryset, name, value):
        return queryset  # applied together in `filter_queryset` through the selector

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        matching = endpoint_list(
            q=data.get("q") or "",
            os_family=data.get("os_family") or None,
            group=data.get("group") or None,
            tag=data.get("tag") or None,
            online=data.get("online"),
            isolated=data.get("isolated"),
            privileged=data.get("privileged"),
        )
        return queryset.filter(pk__in=matching.values("pk"))


class LowerCharFilter(django_filters.CharFilter):
    """Exact match on a normalised (lower-case) column."""

    def filter(self, qs, value):
        return super().filter(qs, value.lower() if isinstance(value, str) else value)


class IpAddressFilter(django_filters.CharFilter):
    """Exact match on an IP column. A value that is no IP address is a 400 naming the
    parameter; as plain text it reached PostgreSQL's `inet` and failed there (a 500)."""

    field_class = forms.GenericIPAddressField


def _column_filters() -> dict[str, django_filters.Filter]:
    filters: dict[str, django_filters.Filter] = {}
    for column in MATCH_INDEX_COLUMNS:
        kind = FIELD_BY_NAME[column].type
        if kind == "ip":
            filters[column] = IpAddressFilter(field_name=column)
        else:
            filters[column] = LowerCharFilter(field_name=column)
    return filters


class _ObservationFilterBase(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=KIND_CHOICES)
    endpoint = django_filters.ModelChoiceFilter(queryset=Endpoint.objects.all())
    since = UtcDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="observed_at", lookup_expr="lt")

    class Meta:
        model = Observation
        fields = ["event_id", "batch"]


# Exact filters on the indexed matching columns (from MATCH_INDEX_COLUMNS), plus kind,
# endpoint, batch and time.
ObservationFilterSet = type("ObservationFilterSet", (_ObservationFilterBase,), _column_filters())


class DetectionRuleFilterSet(django_filters.FilterSet):
    class Meta:
        model = DetectionRule
        fields = ["source", "enabled", "phase", "severity", "rule_id"]
