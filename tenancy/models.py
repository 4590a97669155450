"""Tenants, memberships, API tokens and the audit trail.

`TenantOwnedModel` is the base of every tenant-owned table in every app: a non-null
`tenant` foreign key, the scoped manager, and a write guard that refuses to save a row
into another tenant than the one in context. Its migrations must add the Row-Level
Security policy (`tenancy.rls.EnableTenantRLS`); tests/isolation enumerates the models
and fails for a table without one.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.timezone import now

from . import roles
from .managers import TenantManager, check_tenant_for_write


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"unknown time zone {value!r}")


class Tenant(models.Model):
    """An organisation whose SOC works in Stopclock; its data never leaves its wall."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(default=now, editable=False)
    # Per-tenant settings of every app, read through each app's typed accessors (never
    # indexed by hand): {"cases": {"dedup_window_minutes": 1440}, "endpoints": {...}}.
    settings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def setting(self, app: str, key: str, default):
        return (self.settings or {}).get(app, {}).get(key, default)


class TenantOwnedModel(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", editable=False)

    objects = TenantManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.assign_tenant()
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self.assign_tenant()
        return super().delete(*args, **kwargs)

    def assign_tenant(self) -> None:
        check_tenant_for_write(self)


class Membership(TenantOwnedModel):
    """A user's role in one tenant; a user may belong to several tenants."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=roles.CHOICES)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_one_per_tenant")
        ]
        indexes = [models.Index(fields=["user"], name="membership_user")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class ApiToken(TenantOwnedModel):
    """A credential for one user in one tenant, stored as a SHA-256 hash, shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="the first characters, to recognise it")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "user"], name="apitoken_tenant_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        current = now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > current)


class AuditChainHead(TenantOwnedModel):
    """The last link of a tenant's audit chain; locked while an event is appended."""

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="audit_head_one_per_tenant")]

    def __str__(self) -> str:
        return f"audit head #{self.last_seq}"


class AuditEvent(TenantOwnedModel):
    """One change of tenant data. Append-only; each event hashes the previous one."""

    seq = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)  # user, token, agent, system
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)  # e.g. case.create, token.revoke
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)  # {"field": [before, after]}
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="audit_seq_unique")]
        indexes = [
            models.Index(fields=["tenant", "occurred_at"], name="audit_tenant_time"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_tenant_obj"),
            models.Index(fields=["tenant", "action"], name="audit_tenant_action"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}"


class OutboxMessage(TenantOwnedModel):
    """A Celery task to send once the transaction that wrote this row has committed.

    Written in the same transaction as the work it stands for, so the message exists if and
    only if the work does; deleted once the broker has it (`tenancy/outbox.py`). A row that
    stays means the broker was unreachable: `outbox.drain()` sends it later.
    """

    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=now)
    attempts = models.PositiveIntegerField(default=0, help_text="failed sends by the drain")
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        # The drain looks for rows older than a few seconds, across tenants first.
        indexes = [models.Index(fields=["created_at"], name="outbox_created")]

    def __str__(self) -> str:
        return f"{self.task} {self.kwargs}"
