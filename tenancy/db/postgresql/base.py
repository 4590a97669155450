"""PostgreSQL backend that keeps the session's tenant settings in step with the context.

Row-Level Security policies read `current_setting('app.tenant_id')` and `app.bypass`.
Before any statement runs, this wrapper compares the tenant in context with what it last
told the session and, only when they differ, sends one `set_config` on the raw cursor (so
it never shows up in query counts). A rollback can undo a `set_config` issued inside the
transaction, so every rollback, new connection and close forgets what was applied.

Code that talks to psycopg directly (COPY) calls `connection.apply_tenant_setting()` first.
"""

from __future__ import annotations

from django.db.backends.postgresql import base

from tenancy.context import bypass_reason, current_tenant_id

SET_TENANT_SQL = (
    "SELECT set_config('app.tenant_id', %s, false), set_config('app.bypass', %s, false)"
)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tenant_applied: tuple[int | None, bool] | None = None
        self._tenant_paused = False
        self.execute_wrappers.append(self._tenant_wrapper)

    def _wanted(self) -> tuple[int | None, bool]:
        return current_tenant_id(), bypass_reason() is not None

    def apply_tenant_setting(self) -> None:
        wanted = self._wanted()
        if wanted == self._tenant_applied:
            return
        tenant_id, bypass = wanted
        params = ["" if tenant_id is None else str(tenant_id), "on" if bypass else "off"]
        self.ensure_connection()
        # A plain client-side cursor: the statement's own cursor may be a server-side one.
        # Django's error wrapper, as for its own cursors: a connection the server dropped
        # (restart) raises django.db.OperationalError (a 503, tenancy/errors.py), not a raw
        # psycopg error (a 500), and is marked unusable so the next request reconnects.
        with self.wrap_database_errors, self.connection.cursor() as cursor:
            cursor.execute(SET_TENANT_SQL, params)
        self._tenant_applied = wanted

    def _tenant_wrapper(self, execute, sql, params, many, context):
        if not self._tenant_paused:
            self.apply_tenant_setting()
        return execute(sql, params, many, context)

    def get_new_connection(self, conn_params):
        self._tenant_applied = None
        return super().get_new_connection(conn_params)

    def _rollback(self):
        self._tenant_applied = None
        return super()._rollback()

    def _savepoint_rollback(self, sid):
        # The transaction may be aborted: ROLLBACK TO must go first, untouched.
        self._tenant_paused = True
        try:
            return super()._savepoint_rollback(sid)
        finally:
            self._tenant_paused = False
            self._tenant_applied = None

    def _close(self):
        self._tenant_applied = None
        return super()._close()
