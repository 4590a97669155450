"""PostgreSQL Row-Level Security, applied by migrations (no-ops on SQLite).

Every migration that creates a tenant-owned table ends with `EnableTenantRLS("<table>")`:

    operations = [
        migrations.CreateModel(name="Case", ...),
        EnableTenantRLS("cases_case"),
    ]

The policy lets a session see and write only rows whose `tenant_id` equals the session
setting `app.tenant_id`, or every row while `app.bypass` is on (the `unscoped()` door).
`FORCE` makes the table owner obey it too, so even the role that ran the migrations is
fenced in. After every migrate, `grant_app_role` gives the application role (not a
superuser, no BYPASSRLS, owning nothing) the rights it needs and no more.
"""

from __future__ import annotations

from django.db import migrations

POLICY_NAME = "tenant_isolation"
# The settings are read in scalar subqueries: PostgreSQL evaluates them once per statement
# (an InitPlan) instead of twice per row, which made RLS cost 40 % of a large scan.
TENANT_PREDICATE = (
    "(tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::bigint) "
    "OR (SELECT current_setting('app.bypass', true) = 'on'))"
)


def _is_postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class EnableTenantRLS(migrations.operations.base.Operation):
    """Turn on (and force) Row-Level Security with the tenant policy for one table."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, table: str):
        self.table = table

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _is_postgres(schema_editor):
            return
        table = schema_editor.quote_name(self.table)
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(
            f"CREATE POLICY {POLICY_NAME} ON {table} "
            f"USING {TENANT_PREDICATE} WITH CHECK {TENANT_PREDICATE}"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not _is_postgres(schema_editor):
            return
        table = schema_editor.quote_name(self.table)
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable tenant Row-Level Security on {self.table}"

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.table], {})


class RefreshTenantPolicies(migrations.operations.base.Operation):
    """Re-apply the current `TENANT_PREDICATE` to every table that has the tenant policy
    (tables created later get it from `EnableTenantRLS`)."""

    reduces_to_sql = True
    reversible = True

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _is_postgres(schema_editor):
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT tablename FROM pg_policies WHERE schemaname = current_schema() "
                "AND policyname = %s ORDER BY tablename",
                [POLICY_NAME],
            )
            tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            schema_editor.execute(
                f"ALTER POLICY {POLICY_NAME} ON {schema_editor.quote_name(table)} "
                f"USING {TENANT_PREDICATE} WITH CHECK {TENANT_PREDICATE}"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass  # the earlier predicate selects the same rows: nothing to undo

    def describe(self) -> str:
        return "Re-apply the tenant policy predicate to every tenant-owned table"

    def deconstruct(self):
        return (self.__class__.__qualname__, [], {})


class AppendOnlyTable(migrations.operations.base.Operation):
    """A trigger that refuses UPDATE and DELETE (the audit trail is append-only)."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, table: str):
        self.table = table

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _is_postgres(schema_editor):
            return
        table = schema_editor.quote_name(self.table)
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION stopclock_refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% on % refused: the table is append-only', TG_OP, TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$",
            None,  # no parameters: the % signs are PL/pgSQL's own placeholders
        )
        schema_editor.execute(
            f"CREATE TRIGGER {self.table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION stopclock_refuse_change()"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not _is_postgres(schema_editor):
            return
        table = schema_editor.quote_name(self.table)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {self.table}_append_only ON {table}")

    def describe(self) -> str:
        return f"Make {self.table} append-only"

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.table], {})


APPEND_ONLY_TABLES = ("tenancy_auditevent",)


def grant_app_role(using: str = "default", **kwargs) -> None:
    """post_migrate: give the application role DML on every table, minus audit changes."""
    from django.conf import settings
    from django.db import connections

    connection = connections[using]
    role = settings.APP_DB_ROLE
    if connection.vendor != "postgresql" or not role:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            return
        quoted = connection.ops.quote_name(role)
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        for table in APPEND_ONLY_TABLES:
            cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}")
