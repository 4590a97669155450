from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from endpoints.models import Endpoint
from intel.models import (
    FAMILY_CHOICES,
    IMPORT_FORMATS,
    IOC,
    IOC_TYPE_CHOICES,
    JOB_STATUSES,
    SWEEP_KINDS,
    SWEEP_STATUSES,
    TLP_CHOICES,
    VERDICTS,
    FileScan,
    Hit,
    ImportJob,
    Reputation,
    Source,
    Sweep,
)
from metrics.targets import SEVERITY_CHOICES
from tenancy.api.filters import UtcDateTimeFilter


class IOCFilterSet(django_filters.FilterSet):
    """`?type=sha256` (several: `?type=md5&type=sha1`), `?search=` (value, description)."""

    type = django_filters.MultipleChoiceFilter(choices=IOC_TYPE_CHOICES)
    family = django_filters.ChoiceFilter(choices=FAMILY_CHOICES)
    source = django_filters.ModelChoiceFilter(
        queryset=Source.objects.all(), field_name="source_links__source", distinct=True
    )
    tag = django_filters.CharFilter(field_name="tags__name", help_text="tag name (exact)")
    severity = django_filters.ChoiceFilter(choices=SEVERITY_CHOICES)
    tlp = django_filters.ChoiceFilter(choices=TLP_CHOICES)
    active = django_filters.BooleanFilter(method="filter_active")
    suppressed = django_filters.BooleanFilter()
    seen = django_filters.BooleanFilter(method="filter_seen", help_text="has sightings")

    class Meta:
        model = IOC
        fields = ["key"]

    def filter_active(self, queryset, name, value):
        now = timezone.now()
        active = Q(revoked=False, valid_from__lte=now) & (
            Q(valid_until__isnull=True) | Q(valid_until__gt=now)
        )
        return queryset.filter(active) if value else queryset.exclude(active)

    def filter_seen(self, queryset, name, value):
        return (
            queryset.filter(sightings_count__gt=0) if value else queryset.filter(sightings_count=0)
        )


class SweepFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=SWEEP_STATUSES)
    kind = django_filters.ChoiceFilter(choices=SWEEP_KINDS)

    class Meta:
        model = Sweep
        fields = ["selection"]


class HitFilterSet(django_filters.FilterSet):
    sweep = django_filters.ModelChoiceFilter(queryset=Sweep.objects.all())
    ioc = django_filters.ModelChoiceFilter(queryset=IOC.objects.all())
    endpoint = django_filters.ModelChoiceFilter(queryset=Endpoint.objects.all())
    ioc_type = django_filters.MultipleChoiceFilter(choices=IOC_TYPE_CHOICES)
    since = UtcDateTimeFilter(field_name="first_seen", lookup_expr="gte")

    class Meta:
        model = Hit
        fields = ["ioc_key"]


class ImportJobFilterSet(django_filters.FilterSet):
    source = django_filters.ModelChoiceFilter(queryset=Source.objects.all())
    status = django_filters.ChoiceFilter(choices=JOB_STATUSES)
    format = django_filters.ChoiceFilter(choices=IMPORT_FORMATS)

    class Meta:
        model = ImportJob
        fields: list = []


class ReputationFilterSet(django_filters.FilterSet):
    verdict = django_filters.ChoiceFilter(choices=VERDICTS)
    hash = django_filters.CharFilter(method="filter_hash")

    class Meta:
        model = Reputation
        fields = ["hash_type", "source"]

    def filter_hash(self, queryset, name, value):
        return queryset.filter(hash=value.strip().lower())


class FileScanFilterSet(django_filters.FilterSet):
    class Meta:
        model = FileScan
        fields = ["target", "evidence_id", "status", "sha256"]
