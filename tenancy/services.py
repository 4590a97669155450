"""Tenancy verbs: tenants, users and roles, API tokens, and appending to the audit trail.

Every service that changes tenant data (in any app) calls `audit_record` inside its
transaction, so the event commits or rolls back with the change it describes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import roles
from .audit import audit_value, event_hash
from .context import current_request, require_tenant, tenant_context, unscoped
from .models import ApiToken, AuditChainHead, AuditEvent, Membership, Tenant

User = get_user_model()


# --- audit -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditEntry:
    """What one change looks like before it is chained (for bulk appends)."""

    action: str
    object_type: str = ""
    object_id: str = ""
    object_repr: str = ""
    changes: dict[str, Any] | None = None


def _normalise_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


def audit_record_many(entries: list[AuditEntry]) -> list[AuditEvent]:
    """Append events to the current tenant's chain, in order, in the caller's transaction."""
    if not entries:
        return []
    tenant = require_tenant()
    info = current_request()
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(tenant=tenant)
        occurred_at = timezone.now()
        events = []
        for entry in entries:
            fields = {
                "tenant_id": tenant.pk,
                "seq": head.last_seq + 1,
                "occurred_at": occurred_at,
                "actor_kind": info.actor.kind,
                "actor_id": str(info.actor.id)[:64],
                "actor_label": info.actor.label[:200],
                "action": entry.action,
                "object_type": entry.object_type,
                "object_id": str(entry.object_id)[:64],
                "object_repr": str(entry.object_repr)[:200],
                "changes": audit_value(entry.changes or {}),
                "request_id": info.request_id[:64],
                "ip": _normalise_ip(info.ip),
                "prev_hash": head.last_hash,
            }
            fields["hash"] = event_hash(fields)
            events.append(AuditEvent(**fields))
            head.last_seq, head.last_hash = fields["seq"], fields["hash"]
        AuditEvent.objects.bulk_create(events)
        head.save(update_fields=["last_seq", "last_hash"])
    return events


def audit_record(
    action: str, obj: Any = None, changes: dict[str, Any] | None = None, **kwargs: Any
) -> AuditEvent:
    """Append one event describing `action` on `obj` (a model instance or None)."""
    entry = AuditEntry(
        action=action,
        object_type=kwargs.get("object_type") or (obj._meta.label_lower if obj is not None else ""),
        object_id=kwargs.get("object_id") or (str(obj.pk) if obj is not None else ""),
        object_repr=kwargs.get("object_repr") or (str(obj) if obj is not None else ""),
        changes=changes,
    )
    return audit_record_many([entry])[0]


# --- tenants and users --------------------------------------------------------------------
def tenant_create(*, slug: str, name: str, timezone_name: str = "UTC") -> Tenant:
    tenant = Tenant(slug=slug, name=name, timezone=timezone_name)
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        with tenant_context(tenant):
            audit_record("tenant.create", tenant, {"name": [None, name], "slug": [None, slug]})
    return tenant


def user_create(
    *, username: str, password: str | None, email: str = "", validate_password: bool = True
) -> AbstractBaseUser:
    """A login (global); what it may do comes from its memberships."""
    from django.contrib.auth.password_validation import validate_password as check

    user = User(username=username, email=email)
    if password:
        if validate_password:
            check(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


def membership_set(*, user: AbstractBaseUser, role: str) -> Membership:
    """Give `user` `role` in the tenant in context (creating or changing the membership)."""
    if role not in roles.ALL:
        raise ValidationError({"role": f"unknown role {role!r}; one of {sorted(roles.ALL)}"})
    require_tenant()
    with transaction.atomic():
        membership = Membership.objects.filter(user=user).first()
        before = membership.role if membership else None
        if membership is None:
            membership = Membership.objects.create(user=user, role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        if before != role:
            audit_record(
                "membership.set",
                membership,
                {"user": [None, user.get_username()], "role": [before, role]},
            )
    return membership


def membership_remove(*, user: AbstractBaseUser) -> None:
    with transaction.atomic():
        membership = Membership.objects.filter(user=user).first()
        if membership is None:
            return
        audit_record("membership.remove", membership, {"role": [membership.role, None]})
        membership.delete()
        # Removing someone from a tenant ends their tokens there.
        _revoke_tokens(ApiToken.objects.filter(user=user, revoked_at__isnull=True))


# --- API tokens ---------------------------------------------------------------------------
def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    expires_at: dt.datetime | None = None,
    days: int | None = None,
    created_by: AbstractBaseUser | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user` in the tenant in context; the key is returned only here."""
    require_tenant()
    if not Membership.objects.filter(user=user).exists():
        raise ValidationError({"user": "the user is not a member of this tenant"})
    if expires_at is None:
        days = settings.STOPCLOCK["TOKEN_DEFAULT_DAYS"] if days is None else days
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None
    elif expires_at <= timezone.now():
        raise ValidationError({"expires_at": "must be in the future"})
    prefix = f"{settings.STOPCLOCK['TOKEN_PREFIX']}_{secrets.token_hex(4)}"
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100] or "token",
            prefix=prefix,
            key_hash=_hash_key(key),
            expires_at=expires_at,
            created_by=created_by,
        )
        audit_record(
            "token.create",
            token,
            {"user": [None, user.get_username()], "expires_at": [None, expires_at]},
        )
    return token, key


def _revoke_tokens(queryset) -> int:
    now = timezone.now()
    tokens = list(queryset)
    for token in tokens:
        audit_record("token.revoke", token, {"revoked_at": [None, now]})
    return queryset.model.objects.filter(pk__in=[t.pk for t in tokens]).update(revoked_at=now)


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        if token.revoked_at is None:
            _revoke_tokens(ApiToken.objects.filter(pk=token.pk))
            token.refresh_from_db()
    return token


def api_token_authenticate(key: str) -> ApiToken | None:
    """The active token for `key`, with its tenant and user loaded; None if unknown/expired.

    Runs before any tenant is known, so it looks the hash up through the `unscoped` door.
    """
    if not key or len(key) > 200:
        return None
    with unscoped("API token look-up by hash, before the tenant is known"):
        token = (
            ApiToken.objects.select_related("tenant", "user")
            .filter(key_hash=_hash_key(key))
            .first()
        )
    if token is None or not token.is_active or not token.user.is_active:
        return None
    return token


def api_token_touch(token: ApiToken) -> None:
    """Record use, at most every five minutes, without an audit event (not a change)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
