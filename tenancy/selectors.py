"""Tenancy reads: a user's tenants, the audit trail and its verification."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .audit import HASHED_FIELDS, event_hash
from .context import unscoped
from .models import AuditChainHead, AuditEvent, Membership, Tenant


def user_memberships(user: AbstractBaseUser) -> list[Membership]:
    """Every tenant the user belongs to (for the switcher); crosses tenants on purpose."""
    if not user.is_authenticated:
        return []
    with unscoped("tenant switcher: the signed-in user's own memberships"):
        return list(
            Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
        )


def audit_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.all().order_by("-seq")


@dataclass
class ChainReport:
    tenant: Tenant
    events: int
    broken_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def audit_verify(tenant: Tenant, batch: int = 5000) -> ChainReport:
    """Walk the tenant's chain in order and name the first event that does not hold."""
    from .context import tenant_context

    count, prev_hash, expected_seq = 0, "", 1
    with tenant_context(tenant):
        queryset = AuditEvent.objects.order_by("seq").values("hash", *HASHED_FIELDS)
        for row in queryset.iterator(chunk_size=batch):
            count += 1
            if row["seq"] != expected_seq:
                return ChainReport(tenant, count, expected_seq, f"event #{expected_seq} is missing")
            if row["prev_hash"] != prev_hash:
                return ChainReport(
                    tenant, count, row["seq"], "prev_hash does not match the previous event"
                )
            if event_hash(row) != row["hash"]:
                return ChainReport(
                    tenant, count, row["seq"], "content does not match its hash (altered)"
                )
            prev_hash, expected_seq = row["hash"], expected_seq + 1
        head = AuditChainHead.objects.first()
        if head is not None and head.last_seq != count:
            return ChainReport(
                tenant,
                count,
                count + 1,
                f"the chain head says {head.last_seq} events, found {count}",
            )
    return ChainReport(tenant, count)
