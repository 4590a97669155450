"""PostgreSQL Row-Level Security: every tenant-owned table, and RLS alone keeps tenants apart."""

import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import DatabaseError

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.managers import TenantManager
from tenancy.models import AuditEvent, TenantOwnedModel
from tenancy.services import audit_record

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres):
    if not is_postgres:
        pytest.skip("Row-Level Security exists on PostgreSQL only")


def tenant_owned_tables():
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and model._meta.managed
    )


def test_every_tenant_owned_table_has_forced_rls_and_the_policy(db):
    tables = tenant_owned_tables()
    assert "tenancy_auditevent" in tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(%s) "
            "AND c.relrowsecurity AND c.relforcerowsecurity "
            "AND EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname "
            "AND p.policyname = 'tenant_isolation')",
            [tables],
        )
        protected = {row[0] for row in cursor.fetchall()}
    assert sorted(set(tables) - protected) == []


def test_the_suite_itself_runs_under_rls(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


def _seed(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            audit_record("test.seed", None, {}, object_repr=f"marker-{tenant.slug}")


def test_raw_select_without_where_sees_only_the_tenant_in_context(tenant_a, tenant_b):
    _seed(tenant_a, tenant_b)
    with tenant_context(tenant_a):
        AuditEvent.objects.exists()  # the session now carries tenant A
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT tenant_id FROM tenancy_auditevent")
            assert [row[0] for row in cursor.fetchall()] == [tenant_a.pk]


def test_raw_select_with_no_tenant_sees_nothing(tenant_a, tenant_b):
    _seed(tenant_a, tenant_b)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('app.tenant_id', '', false), set_config('app.bypass', 'off', false)"
        )
        cursor.execute("SELECT count(*) FROM tenancy_auditevent")
        assert cursor.fetchone()[0] == 0
    connection._tenant_applied = None


def test_rls_alone_keeps_tenants_apart_when_the_orm_filter_is_gone(
    tenant_a, tenant_b, api_client, monkeypatch
):
    client = api_client(tenant_a, roles.ADMIN)
    _seed(tenant_a, tenant_b)
    monkeypatch.setattr(
        TenantManager, "get_queryset", lambda self: super(TenantManager, self).get_queryset()
    )
    body = client.get("/api/v1/audit/", {"page_size": 500}).json()
    reprs = {row["object_repr"] for row in body["results"]}
    assert "marker-alpha" in reprs
    assert "marker-bravo" not in reprs


def test_writing_a_row_for_another_tenant_is_refused_by_the_policy(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        AuditEvent.objects.exists()
        with (
            pytest.raises(DatabaseError, match="row-level security"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "INSERT INTO tenancy_auditevent (tenant_id, seq, occurred_at, actor_kind, "
                "actor_id, actor_label, action, object_type, object_id, object_repr, changes, "
                "request_id, prev_hash, hash) VALUES (%s, 999, now(), 'x', '', '', 'x', '', "
                "'', '', '{}', '', '', 'x')",
                [tenant_b.pk],
            )


def test_audit_rows_cannot_be_updated_or_deleted(tenant_a):
    with tenant_context(tenant_a):
        audit_record("test.event", None, {})
        for statement in (
            "UPDATE tenancy_auditevent SET action = 'forged'",
            "DELETE FROM tenancy_auditevent",
        ):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement)


def test_application_role_cannot_bypass_rls(tenant_a, tenant_b):
    """The role production runs as: no superuser, no BYPASSRLS, cannot alter or forge."""
    role = settings.APP_DB_ROLE
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
    if row is None:
        pytest.skip(f"role {role} not created here (.ci/run creates it)")
    assert row == (False, False)
    _seed(tenant_a, tenant_b)
    # The test transaction is not visible to another connection: commit-free checks only.
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params["user"] = role
    params.pop("password", None)
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in {"dbname", "host", "port", "user"}},
        autocommit=True,
    ) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM tenancy_auditevent")
        assert cur.fetchone()[0] == 0
        for statement in (
            "ALTER TABLE tenancy_auditevent DISABLE ROW LEVEL SECURITY",
            "UPDATE tenancy_auditevent SET action = 'forged'",
            "SET ROLE postgres",
        ):
            with pytest.raises(psycopg.Error):
                cur.execute(statement)
