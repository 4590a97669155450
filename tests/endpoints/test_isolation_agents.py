"""The tenant wall under the agent API and the bulk insert: PostgreSQL RLS holds even when
the application passes the wrong tenant id (defence in depth)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from endpoints.models import Observation
from endpoints.services import _pg_insert_sql
from tenancy.context import tenant_context
from tests.fixtures.endpoints import records

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres):
    if not is_postgres:
        pytest.skip("Row-Level Security exists on PostgreSQL only")


def test_the_bulk_insert_cannot_write_into_another_tenant(tenant_a, tenant_b, enrol_agent):
    a, b = enrol_agent(tenant_a), enrol_agent(tenant_b)
    sql = _pg_insert_sql(("kind", "event_id", "observed_at"))
    when = dt.datetime.now(dt.UTC)
    with (
        tenant_context(tenant_a),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # a bug handing B's ids to the insert while A is in context
        cursor.execute(sql, [tenant_b.pk, b.endpoint.pk, 1, when, ["process"], ["x"], [when]])
    with tenant_context(tenant_b):
        assert not Observation.objects.exists()
    with tenant_context(tenant_a):
        assert a.endpoint.tenant_id == tenant_a.pk


def test_raw_reads_see_only_the_tenant_in_context(tenant_a, tenant_b, enrol_agent, post_batch):
    assert post_batch(enrol_agent(tenant_a), records(3)).status_code == 202
    assert post_batch(enrol_agent(tenant_b), records(5)).status_code == 202
    with tenant_context(tenant_a):
        Observation.objects.exists()  # the session now carries tenant A
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT tenant_id, count(*) FROM endpoints_observation GROUP BY 1"
            )
            assert cursor.fetchall() == [(tenant_a.pk, 3)]
            cursor.execute(
                "SELECT count(*) FROM endpoints_inventoryitem WHERE tenant_id = %s", [tenant_b.pk]
            )
            assert cursor.fetchone() == (0,)
