"""Endpoint inventory and (added by the endpoints work) telemetry observations."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from tenancy.models import TenantOwnedModel

OS_FAMILIES = [("windows", "Windows"), ("macos", "macOS"), ("linux", "Linux")]
ISOLATION_STATES = [
    ("none", "Not isolated"),
    ("isolating", "Isolation requested"),
    ("isolated", "Isolated"),
    ("releasing", "Release requested"),
]


class Endpoint(TenantOwnedModel):
    """A machine of the tenant's fleet, known through its agent."""

    hostname = models.CharField(max_length=255, help_text="lower-case short name")
    fqdn = models.CharField(max_length=255, blank=True)
    os_family = models.CharField(max_length=16, choices=OS_FAMILIES)
    os_version = models.CharField(max_length=128, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    ip_addresses = models.JSONField(default=list, blank=True)
    mac_addresses = models.JSONField(default=list, blank=True)
    agent_id = models.CharField(max_length=64, help_text="the agent's own stable id")
    agent_version = models.CharField(max_length=64, blank=True)
    privileged_admin_logons = models.BooleanField(default=False)
    isolation_state = models.CharField(max_length=16, choices=ISOLATION_STATES, default="none")
    first_seen_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hostname"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "agent_id"], name="endpoint_agent_unique")
        ]
        indexes = [
            models.Index(fields=["tenant", "hostname"], name="endpoint_tenant_host"),
            models.Index(fields=["tenant", "last_seen_at"], name="endpoint_tenant_seen"),
        ]

    def __str__(self) -> str:
        return self.hostname
