"""Webhook verbs: subscriptions, and recording deliveries (sent by cases.tasks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from metrics.clocks import MILESTONES
from tenancy import outbox
from tenancy.context import require_tenant
from tenancy.errors import Conflict
from tenancy.services import audit_record_many

from .. import webhooks
from ..models import (
    WEBHOOK_EVENTS,
    Case,
    Webhook,
    WebhookDelivery,
)
from ._base import (
    UNSET,
    _actor,
    _clean_text,
    _entry,
    _now,
    _update_row,
    logger,
)


# =============================================================================================
# webhooks: recording deliveries (sending is cases.tasks.deliver_webhook)
# =============================================================================================
def case_payload(case: Case) -> dict[str, Any]:
    """What a webhook says about a case (no description: it may be long and sensitive)."""
    return {
        "id": case.pk,
        "number": case.number,
        "title": case.title,
        "severity": case.severity,
        "tlp": case.tlp,
        "phase": case.phase,
        "status": case.status,
        "resolution": case.resolution,
        "assignee": case.assignee_id,
        **{
            name: getattr(case, name).isoformat() if getattr(case, name) else None
            for name in MILESTONES
        },
        "version": case.version,
        "url": f"/t/{require_tenant().slug}/cases/{case.pk}/",
    }


def _emit(event: str, case: Case, extra: dict | None = None) -> None:
    _emit_many(event, [(case, extra)])


def _emit_many(event: str, items: Sequence[tuple[Case, dict | None]]) -> None:
    """Queue `event` for every active webhook subscribed to it, sent after commit.

    One query for the webhooks whatever the number of cases (a bulk ingest opening 50 cases
    must not look the webhooks up 50 times).
    """
    if not items:
        return
    tenant = require_tenant()
    hooks = [hook for hook in _active_webhooks() if event in (hook.events or [])]
    if not hooks:
        return
    now = _now()
    rows = []
    for case, extra in items:
        body = {
            "event": event,
            "tenant": tenant.slug,
            "occurred_at": now.isoformat(),
            "case": case_payload(case),
            **({"detail": extra} if extra else {}),
        }
        rows += [
            WebhookDelivery(webhook=hook, event=event, payload=body, created_at=now)
            for hook in hooks
        ]
    deliveries = WebhookDelivery.objects.bulk_create(rows)
    _enqueue_deliveries(deliveries)


def _active_webhooks() -> list[Webhook]:
    """Cached per transaction-less call site; webhooks are few per tenant."""
    return list(Webhook.objects.filter(is_active=True))


def _validate_webhook_url(url: str) -> str:
    from tenancy.outbound import OutboundRefused, allowlist_for, check_url

    url = _clean_text(url, "url", 500, required=True)
    tenant = require_tenant()
    try:
        target = check_url(url, allowlist=allowlist_for(tenant))
    except OutboundRefused as exc:
        raise ValidationError({"url": str(exc)}) from exc
    allowed_hosts = {entry.lower() for entry in allowlist_for(tenant)}
    if target.scheme != "https" and target.host not in allowed_hosts:
        public = all(not _is_allowlisted_address(a, tenant) for a in target.addresses)
        if public:
            raise ValidationError({"url": "use https (plain http only for allowlisted hosts)"})
    return url


def _is_allowlisted_address(address: str, tenant) -> bool:
    import ipaddress

    from tenancy.outbound import allowlist_for

    ip = ipaddress.ip_address(address.split("%", 1)[0])
    for entry in allowlist_for(tenant):
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _clean_events(events: Iterable[str]) -> list[str]:
    events = list(dict.fromkeys(events or []))
    unknown = [event for event in events if event not in WEBHOOK_EVENTS]
    if unknown or not events:
        raise ValidationError(
            {"events": f"one or more of {', '.join(WEBHOOK_EVENTS)}; not {', '.join(unknown)}"}
        )
    return events


def webhook_create(
    *, name: str, url: str, events: Sequence[str], is_active: bool = True
) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (returned only here and by rotation)."""
    name = _clean_text(name, "name", 100, required=True)
    url = _validate_webhook_url(url)
    events = _clean_events(events)
    secret = webhooks.new_secret()
    user_id, _ = _actor()
    with transaction.atomic():
        hook = Webhook.objects.create(
            name=name,
            url=url,
            events=events,
            is_active=is_active,
            secret=secret,
            created_by_id=user_id,
        )
        audit_record_many(
            [_entry("webhook.create", hook, {"url": [None, url], "events": [None, events]})]
        )
    return hook, secret


def webhook_update(
    *,
    webhook: Webhook,
    name: Any = UNSET,
    url: Any = UNSET,
    events: Any = UNSET,
    is_active: Any = UNSET,
) -> Webhook:
    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = _clean_text(name, "name", 100, required=True)
    if url is not UNSET:
        changes["url"] = _validate_webhook_url(url)
    if events is not UNSET:
        changes["events"] = _clean_events(events)
    if is_active is not UNSET:
        changes["is_active"] = bool(is_active)
    with transaction.atomic():
        return _update_row(Webhook, webhook, changes, "webhook.update")


def webhook_rotate_secret(*, webhook: Webhook) -> tuple[Webhook, str]:
    secret = webhooks.new_secret()
    with transaction.atomic():
        hook = Webhook.objects.select_for_update().get(pk=webhook.pk)
        hook.secret = secret
        hook.updated_at = _now()
        hook.save(update_fields=["secret", "updated_at"])
        audit_record_many([_entry("webhook.rotate_secret", hook, {"secret": ["…", "…"]})])
    return hook, secret


def webhook_delete(*, webhook: Webhook) -> None:
    with transaction.atomic():
        audit_record_many([_entry("webhook.delete", webhook, {"url": [webhook.url, None]})])
        webhook.delete()


def webhook_ping(*, webhook: Webhook) -> WebhookDelivery:
    """A test delivery ("ping") through the normal path."""
    now = _now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            webhook=webhook,
            event="ping",
            payload={
                "event": "ping",
                "tenant": require_tenant().slug,
                "occurred_at": now.isoformat(),
            },
            created_at=now,
        )
        audit_record_many([_entry("webhook.ping", webhook)])
        _enqueue_deliveries([delivery])
    return delivery


def webhook_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a finished delivery again (same id, so receivers can still deduplicate)."""
    with transaction.atomic():
        row = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if row.status in (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING):
            raise Conflict("This delivery is already on its way.")
        row.status = WebhookDelivery.Status.PENDING
        row.next_attempt_at = None
        row.save(update_fields=["status", "next_attempt_at"])
        audit_record_many([_entry("webhook.redeliver", row)])
        _enqueue_deliveries([row])
    return row


def _enqueue_deliveries(deliveries: Sequence[WebhookDelivery]) -> None:
    """Their send tasks, through the outbox (in the transaction that recorded them)."""
    from tenancy.tasks import actor_kwargs

    from ..tasks import deliver_webhook

    tenant_id, actor = require_tenant().pk, actor_kwargs()
    outbox.enqueue_many(
        deliver_webhook,
        [{"tenant_id": tenant_id, "delivery_uid": str(d.uid), **actor} for d in deliveries],
    )


def webhook_deliver(*, delivery_uid: str, now: dt.datetime | None = None) -> WebhookDelivery | None:
    """Make one attempt at a delivery, if it is due; record the outcome.

    The row is claimed with a conditional UPDATE (pending/retrying and due -> sending), so
    two workers never send the same attempt; the HTTP call happens outside any transaction.
    Returns None when there was nothing to do (already sent, not due, or gone).
    """
    from tenancy.outbound import OutboundRefused, allowlist_for, post_json

    now = now or _now()
    stale = now - webhooks.SENDING_STALE_AFTER
    due = Q(status__in=["pending", "retrying"]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    claimed = WebhookDelivery.objects.filter(
        Q(uid=delivery_uid) & (due | Q(status="sending", last_attempt_at__lt=stale))
    ).update(status="sending", last_attempt_at=now)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(uid=delivery_uid)
    hook = delivery.webhook
    body = webhooks.encode({"id": str(delivery.uid), **delivery.payload})
    headers = webhooks.headers(
        secret=hook.secret,
        timestamp=int(now.timestamp()),
        body=body,
        event=delivery.event,
        delivery_id=str(delivery.uid),
    )
    code, error, duration = None, "", None
    try:
        if not hook.is_active:
            raise OutboundRefused("the webhook is disabled")
        response = post_json(
            hook.url,
            body,
            headers,
            timeout=webhooks.TIMEOUT_SECONDS,
            allowlist=allowlist_for(require_tenant()),
        )
        code, duration = response.status, response.elapsed_ms
        if not response.ok:
            error = f"HTTP {response.status}" + (
                " (redirects are not followed)" if 300 <= response.status < 400 else ""
            )
    except OutboundRefused as exc:
        error = f"refused: {exc}"
    except Exception as exc:  # network errors of every kind are a failed attempt, not a crash
        error = f"{type(exc).__name__}: {exc}"
    attempts = delivery.attempts + 1
    fields: dict[str, Any] = {
        "attempts": attempts,
        "response_code": code,
        "error": error[:500],
        "duration_ms": duration,
        "last_attempt_at": now,
    }
    if not error:
        fields.update(status="succeeded", delivered_at=_now(), next_attempt_at=None)
    elif attempts >= webhooks.MAX_ATTEMPTS or error.startswith("refused"):
        fields.update(status="failed", next_attempt_at=None)
    else:
        fields.update(status="retrying", next_attempt_at=now + webhooks.backoff(attempts))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for key, value in fields.items():
        setattr(delivery, key, value)
    if error:
        logger.info("webhook delivery %s failed: %s", delivery.uid, error)
    return delivery


def webhook_due_deliveries(*, now: dt.datetime | None = None, limit: int = 200) -> list[str]:
    """Deliveries whose next attempt is due (or whose sender died): for the retry sweep."""
    now = now or _now()
    stale = now - webhooks.SENDING_STALE_AFTER
    rows = WebhookDelivery.objects.filter(
        Q(status="retrying", next_attempt_at__lte=now)
        | Q(status="pending", created_at__lt=now - dt.timedelta(minutes=2))
        | Q(status="sending", last_attempt_at__lt=stale)
    ).order_by("next_attempt_at")[:limit]
    return [str(uid) for uid in rows.values_list("uid", flat=True)]
