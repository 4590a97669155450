"""Shared helpers of the cases services: clock, actor, validation, timeline, locks."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone

from metrics.clocks import PHASE_KEYS
from metrics.targets import SEVERITIES_BY_KEY
from tenancy import roles
from tenancy.audit import diff
from tenancy.context import current_request, require_tenant
from tenancy.errors import PreconditionFailed
from tenancy.models import Membership
from tenancy.services import AuditEntry, audit_record_many

from .. import conf
from ..models import (
    Alert,
    Case,
    CaseTag,
    CaseWatcher,
    MilestoneChange,
    Tag,
    TimelineEntry,
)

logger = logging.getLogger("stopclock.cases")
User = get_user_model()

WORKING_ROLES = frozenset({roles.ADMIN, roles.LEAD, roles.ANALYST})
FUTURE_SKEW = dt.timedelta(minutes=10)
TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
TAG_NAME = re.compile(r"^[a-z0-9][a-z0-9 ._:+/-]{0,49}$")
UNSET: Any = object()


# =============================================================================================
# helpers
# =============================================================================================
_acting_at: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar(
    "cases_acting_at", default=None
)


def _now() -> dt.datetime:
    return _acting_at.get() or timezone.now()


@contextlib.contextmanager
def acting_at(moment: dt.datetime) -> Iterator[dt.datetime]:
    """Run the services as if it were `moment` (the demo seed replays a case's history;
    tests move time forward). Audit events keep their real time of writing."""
    token = _acting_at.set(moment)
    try:
        yield moment
    finally:
        _acting_at.reset(token)


def _actor() -> tuple[int | None, str]:
    actor = current_request().actor
    return actor.user_id, (actor.label or actor.kind)[:200]


def _rank(severity: str) -> int:
    return SEVERITIES_BY_KEY[severity].rank


def _max_severity(values: Iterable[str]) -> str:
    return max(values, key=_rank)


def _furthest_phase(values: Iterable[str]) -> str | None:
    known = [value for value in values if value in PHASE_KEYS]
    return max(known, key=PHASE_KEYS.index) if known else None


def _fmt(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _case_entry(action: str, case: Case, changes: dict | None = None) -> AuditEntry:
    return AuditEntry(
        action=action,
        object_type="cases.case",
        object_id=str(case.pk),
        object_repr=str(case)[:200],
        changes=changes or {},
    )


def _entry(action: str, obj: models.Model, changes: dict | None = None) -> AuditEntry:
    return AuditEntry(
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=changes or {},
    )


def _timeline(
    case: Case,
    kind: str,
    summary: str,
    data: dict | None = None,
    at: dt.datetime | None = None,
) -> TimelineEntry:
    """An unsaved timeline entry (callers bulk_create them)."""
    user_id, label = _actor()
    return TimelineEntry(
        case=case,
        kind=kind,
        summary=summary[:500],
        data=data or {},
        occurred_at=at or _now(),
        actor_id=user_id,
        actor_label=label,
    )


def _milestone_change(
    case: Case,
    milestone: str,
    kind: str,
    old: dt.datetime | None,
    new: dt.datetime | None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> MilestoneChange:
    user_id, label = _actor()
    return MilestoneChange(
        case=case,
        milestone=milestone,
        kind=kind,
        old_value=old,
        new_value=new,
        reason=reason,
        actor_id=user_id,
        actor_label=label,
        at=at or _now(),
    )


def _lock(case: Case | int, expected_version: int | None = None) -> Case:
    """The case row, locked for this transaction; 412 if its version moved on."""
    pk = case.pk if isinstance(case, Case) else case
    locked = Case.objects.select_for_update().get(pk=pk)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            f"{locked.number} is at version {locked.version}; you sent {expected_version}. "
            "Reload it and apply your change again."
        )
    return locked


def _save_case(case: Case, fields: Iterable[str], now: dt.datetime) -> None:
    case.version += 1
    case.updated_at = now
    case.save(update_fields=sorted({*fields, "version", "updated_at"}))


def _assign(obj: models.Model, values: dict[str, Any]) -> dict[str, list]:
    """Set `values` on `obj` (not saved); the audit diff of what really changed."""
    before = {name: getattr(obj, name) for name in values}
    for name, value in values.items():
        setattr(obj, name, value)
    return diff(before, values)


def _update_row(model, obj: models.Model, values: dict[str, Any], action: str):
    """Lock a row, apply `values`, save and audit it when something changed."""
    row = model.objects.select_for_update().get(pk=obj.pk)
    delta = _assign(row, values)
    if delta:
        row.updated_at = _now()
        row.save()
        audit_record_many([_entry(action, row, delta)])
    return row


def _member_user(user: AbstractBaseUser | int | None, field_name: str = "assignee"):
    """A user who works cases in this tenant (admin, lead, analyst), or None."""
    if user is None:
        return None
    user_id = user.pk if isinstance(user, AbstractBaseUser) else user
    membership = (
        Membership.objects.select_related("user")
        .filter(user_id=user_id, role__in=WORKING_ROLES, user__is_active=True)
        .first()
    )
    if membership is None:
        raise ValidationError({field_name: "not a member of this tenant who works cases"})
    return membership.user


def _clean_text(value: Any, field_name: str, max_length: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field_name: "must be text"})
    value = value.strip()
    if required and not value:
        raise ValidationError({field_name: "this field is required"})
    if len(value) > max_length:
        raise ValidationError({field_name: f"at most {max_length} characters"})
    return value


def _choice(value: Any, field_name: str, choices: Iterable[str]) -> str:
    allowed = list(choices)
    if value not in allowed:
        raise ValidationError({field_name: f"{value!r} is not one of {', '.join(allowed)}"})
    return value


def _aware(value: Any, field_name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        raise ValidationError({field_name: "a timezone-aware date and time is required"})
    return value


def _not_future(value: dt.datetime, field_name: str, now: dt.datetime) -> dt.datetime:
    if value > now + FUTURE_SKEW:
        raise ValidationError({field_name: "is in the future"})
    return value


def normalise_tags(names: Iterable[str]) -> list[str]:
    """Lower-case, trimmed, unique tag names; raises naming `tags` if one is malformed."""
    result: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise ValidationError({"tags": "tags are text"})
        clean = " ".join(name.strip().lower().split())
        if not clean:
            continue
        if not TAG_NAME.match(clean):
            raise ValidationError(
                {"tags": f"{name!r}: 1-50 letters, digits, spaces or . _ : + / -"}
            )
        if clean not in result:
            result.append(clean)
    if len(result) > 30:
        raise ValidationError({"tags": "at most 30 tags"})
    return result


def _tags_for(names: list[str]) -> list[Tag]:
    """The Tag rows for these names, created when missing (race-safe)."""
    if not names:
        return []
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=name) for name in names if name not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    return [existing[name] for name in names]


def _set_tags(case: Case, names: list[str]) -> tuple[list[str], list[str]]:
    """Make the case's tags exactly `names`; returns (before, after)."""
    before = sorted(Tag.objects.filter(cases=case).values_list("name", flat=True))
    wanted = _tags_for(names)
    wanted_ids = {tag.pk for tag in wanted}
    CaseTag.objects.filter(case=case).exclude(tag_id__in=wanted_ids).delete()
    present = set(CaseTag.objects.filter(case=case).values_list("tag_id", flat=True))
    CaseTag.objects.bulk_create(
        [CaseTag(case=case, tag=tag) for tag in wanted if tag.pk not in present],
        ignore_conflicts=True,
    )
    return before, sorted(names)


def _set_watchers(case: Case, users: Sequence) -> tuple[list[int], list[int]]:
    members = [_member_user(user, "watchers") for user in users]
    wanted = {user.pk for user in members}
    before = sorted(CaseWatcher.objects.filter(case=case).values_list("user_id", flat=True))
    CaseWatcher.objects.filter(case=case).exclude(user_id__in=wanted).delete()
    CaseWatcher.objects.bulk_create(
        [CaseWatcher(case=case, user_id=pk) for pk in wanted - set(before)],
        ignore_conflicts=True,
    )
    return before, sorted(wanted)


def _pg_advisory_locks(keys: Iterable[str]) -> None:
    """Serialise concurrent ingestion of the same external ids / dedup keys (PostgreSQL).

    SQLite runs write transactions one at a time (IMMEDIATE), so it needs nothing.
    """
    keys = sorted(set(keys))
    if not keys or connection.vendor != "postgresql":
        return
    tenant_id = require_tenant().pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(k, %s))) "
            "FROM (SELECT unnest(%s::text[]) AS k ORDER BY 1) AS keys",
            [tenant_id, keys],
        )


def _lock_alerts(alerts: Sequence[Alert | int]) -> list[Alert]:
    ids = [alert.pk if isinstance(alert, Alert) else alert for alert in alerts]
    if not ids:
        raise ValidationError({"alerts": "choose at least one alert"})
    if len(ids) > conf.MAX_ALERTS_PER_BATCH:
        raise ValidationError({"alerts": f"at most {conf.MAX_ALERTS_PER_BATCH} alerts at once"})
    rows = list(Alert.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if len(rows) != len(set(ids)):
        raise ValidationError({"alerts": "unknown alert"})
    return rows


def _ip(value: str | None) -> str | None:
    import ipaddress

    try:
        return ipaddress.ip_address(value).compressed if value else None
    except ValueError:
        return None
