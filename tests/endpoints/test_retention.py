"""Retention: observations older than the tenant's `endpoints.retention_days` go, in chunks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from endpoints.models import Observation, TelemetryBatch
from endpoints.services import observations_delete_expired
from endpoints.tasks import retention_sweep
from tenancy.context import tenant_context
from tests.endpoints.factories import ObservationFactory

pytestmark = pytest.mark.django_db


def _seed(tenant, old=7, recent=3):
    with tenant_context(tenant):
        first = ObservationFactory(tenant=tenant)
        for i in range(old):
            ObservationFactory(
                tenant=tenant,
                endpoint=first.endpoint,
                batch=first.batch,
                observed_at=timezone.now() - dt.timedelta(days=40 + i),
            )
        for _ in range(recent - 1):
            ObservationFactory(tenant=tenant, endpoint=first.endpoint, batch=first.batch)


def test_old_observations_are_deleted_in_chunks(tenant_a):
    tenant_a.settings = {"endpoints": {"retention_days": 30}}
    tenant_a.save()
    _seed(tenant_a)
    with tenant_context(tenant_a):
        assert observations_delete_expired(chunk=3) == 7
        assert Observation.objects.count() == 3
        assert observations_delete_expired(chunk=3) == 0


def test_the_daily_sweep_applies_each_tenants_own_retention(tenant_a, tenant_b):
    tenant_a.settings = {"endpoints": {"retention_days": 30}}
    tenant_a.save()
    _seed(tenant_a)
    _seed(tenant_b)  # default 90 days: nothing is old enough
    with tenant_context(tenant_b):
        TelemetryBatch.objects.update(received_at=timezone.now() - dt.timedelta(days=100))
    assert retention_sweep.apply().get() >= 2
    with tenant_context(tenant_a):
        assert Observation.objects.count() == 3
    with tenant_context(tenant_b):
        assert Observation.objects.count() == 10
        assert not TelemetryBatch.objects.exists()  # batch bookkeeping past retention
