import datetime as dt

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from tenancy.context import require_tenant
from tenancy.models import ApiToken, AuditEvent


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant, in UTC. Python accepts offsets up to ±23:59 and PostgreSQL
    refuses those past ±15:59 (a 500): the instant is converted before any query, and one
    with no UTC equivalent (year 1 at +05:00) is a 400."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError("Date and time out of range.", code="overflow") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """The date-time filter of every FilterSet of the API."""

    field_class = UtcDateTimeField


class AuditEventFilterSet(django_filters.FilterSet):
    action = django_filters.CharFilter(lookup_expr="startswith")
    since = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "actor_kind", "request_id"]


def tenant_members(request=None):
    """The users who are members of the tenant in context: the only valid user choices."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(memberships__tenant_id=require_tenant().pk)


class MemberFilter(django_filters.ModelChoiceFilter):
    """A filter on a user id. A FilterSet's default for a user foreign key draws from every
    user of every tenant, so another tenant's user id answered differently from an unknown
    one (a way to enumerate them); this one draws from the tenant's members only."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", tenant_members)
        super().__init__(*args, **kwargs)


class ApiTokenFilterSet(django_filters.FilterSet):
    user = MemberFilter()

    class Meta:
        model = ApiToken
        fields = ["user"]
