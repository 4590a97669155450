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
from tests.hardening.world import UNSEEDED

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


# --- every table, from the catalogue (tables no model declares included) ------------------
# Tables that hold no tenant's rows, each with the reason. Any other table of the schema
# must carry `tenant_id` under the forced policy: a new table fails here until it does.
GLOBAL_TABLES = {
    "auth_group": "Django's permission groups (unused; no tenant data)",
    "auth_group_permissions": "Django's permission groups (unused; no tenant data)",
    "auth_permission": "Django's permission catalogue",
    "auth_user": "people may belong to several tenants (tenancy_membership says which)",
    "auth_user_groups": "Django's permission groups (unused; no tenant data)",
    "auth_user_user_permissions": "Django's permissions (unused; no tenant data)",
    "django_content_type": "the model catalogue",
    "django_migrations": "schema history",
    "django_session": "a signed-in browser, before any tenant is chosen",
    "tenancy_tenant": "the tenants themselves",
}
RELATIONS_SQL = """
SELECT c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
               AND a.attname = 'tenant_id' AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname
"""


def _relations() -> dict[str, tuple]:
    with connection.cursor() as cursor:
        cursor.execute(RELATIONS_SQL)
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _policies() -> dict[str, list[tuple]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, policyname, permissive, roles, cmd, qual, with_check "
            "FROM pg_policies WHERE schemaname = current_schema()"
        )
        found: dict[str, list[tuple]] = {}
        for table, *policy in cursor.fetchall():
            found.setdefault(table, []).append(tuple(policy))
        return found


def test_every_relation_of_the_schema_is_tenant_protected_or_declared_global(db):
    """Tables (partitions too), views and materialised views: a relation that is not a
    declared global table must have `tenant_id`, forced RLS and the tenant policy, whether
    or not a model declares it (a view or a materialised view never qualifies: RLS does
    not apply to what they return)."""
    relations, policies = _relations(), _policies()
    assert "tenancy_auditevent" in relations
    unprotected = []
    for name, (kind, rls, forced, has_tenant) in relations.items():
        if name in GLOBAL_TABLES:
            continue
        named = [policy[0] for policy in policies.get(name, [])]
        if kind not in ("r", "p") or not (
            has_tenant and rls and forced and "tenant_isolation" in named
        ):
            unprotected.append(f"{name} (kind {kind}, tenant_id {has_tenant}, rls {rls}/{forced}, "
                               f"policies {named})")  # fmt: skip
    assert unprotected == []
    assert sorted(set(GLOBAL_TABLES) - set(relations)) == [], "stale GLOBAL_TABLES entries"
    modelled = set(tenant_owned_tables())
    assert modelled <= set(relations) - set(GLOBAL_TABLES)


def test_the_tenant_policy_is_the_only_policy_and_covers_every_command(db):
    """One permissive policy per table, for every command and every role, reading the
    tenant setting both for what is seen and for what is written (a second permissive
    policy would widen the first)."""
    problems = []
    for table, found in _policies().items():
        if len(found) != 1:
            problems.append(f"{table}: {len(found)} policies {[p[0] for p in found]}")
            continue
        name, permissive, policy_roles, command, using, check = found[0]
        if (name, permissive, command) != ("tenant_isolation", "PERMISSIVE", "ALL"):
            problems.append(f"{table}: {name} {permissive} {command}")
        if list(policy_roles) != ["public"]:
            problems.append(f"{table}: policy for roles {policy_roles}")
        for clause in (using, check):
            if "app.tenant_id" not in (clause or "") or "tenant_id =" not in (clause or ""):
                problems.append(f"{table}: clause {clause!r} does not compare the tenant")
    assert problems == []


def _on(table: str, template: str) -> str:
    """A statement about one table of the catalogue (its quoted name, never user input)."""
    return template.format(table=connection.ops.quote_name(table))


def test_rls_alone_hides_and_refuses_other_tenant_rows_in_every_table(world):
    """In every tenant table, raw SQL in tenant A's session reads none of B's rows, changes
    none of them, and cannot move a row of its own into B (the ORM's filter plays no part:
    these statements name B's tenant id outright)."""
    a, b = world.a.tenant.pk, world.b.tenant.pk
    tables = [name for name, row in _relations().items() if name not in GLOBAL_TABLES]
    seeded, problems = 0, []
    for table in tables:
        with tenant_context(world.a.tenant), connection.cursor() as cursor:
            cursor.execute(_on(table, "SELECT count(*) FROM {table} WHERE tenant_id = %s"), [b])
            if cursor.fetchone()[0]:
                problems.append(f"{table}: A's session reads B's rows")
            cursor.execute(_on(table, "SELECT count(*) FROM {table} WHERE tenant_id <> %s"), [a])
            if cursor.fetchone()[0]:
                problems.append(f"{table}: A's session reads rows of another tenant")
            cursor.execute(_on(table, "SELECT count(*) FROM {table}"))
            mine = cursor.fetchone()[0]
            for statement in (
                _on(table, "UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = %s"),
                _on(table, "DELETE FROM {table} WHERE tenant_id = %s"),
            ):
                with transaction.atomic():
                    cursor.execute(statement, [b])
                    if cursor.rowcount:
                        problems.append(f"{table}: {statement.split()[0]} reached B's rows")
                    transaction.set_rollback(True)
            if mine:
                try:
                    with transaction.atomic():
                        cursor.execute(_on(table, "UPDATE {table} SET tenant_id = %s"), [b])
                        problems.append(f"{table}: A moved its rows into B")
                        transaction.set_rollback(True)
                except DatabaseError as exc:
                    expected = "append-only" if table == "tenancy_auditevent" else "row-level"
                    if expected not in str(exc):
                        problems.append(f"{table}: refused, but not by the policy: {exc}")
        with tenant_context(world.b.tenant), connection.cursor() as cursor:
            cursor.execute(_on(table, "SELECT count(*) FROM {table} WHERE tenant_id = %s"), [b])
            seeded += bool(cursor.fetchone()[0])
    assert problems == []
    # The world holds rows of B in (nearly) every table: the checks above were not vacuous.
    # (the tables a seeded tenant may hold no row of are listed, with why, in UNSEEDED)
    assert seeded >= len(tables) - len(UNSEEDED), (
        f"B has rows in only {seeded} of {len(tables)} tables"
    )
