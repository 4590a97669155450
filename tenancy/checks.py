"""System checks: on PostgreSQL the app must not run as a role that bypasses RLS."""

from django.conf import settings
from django.core import checks
from django.db import connection


@checks.register(checks.Tags.database, deploy=True)
def rls_role_check(app_configs=None, databases=None, **kwargs):
    if not databases or "default" not in databases or connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        superuser, bypass = cursor.fetchone()
    if superuser or bypass:
        return [
            checks.Error(
                "The database role bypasses Row-Level Security (superuser or BYPASSRLS).",
                hint=f"Run the application as {settings.APP_DB_ROLE!r}; see the README.",
                id="stopclock.E001",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def production_settings_check(app_configs=None, **kwargs):
    errors = []
    if settings.DEBUG:
        errors.append(checks.Error("DEBUG is on.", id="stopclock.E002"))
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        errors.append(
            checks.Warning(
                "The filesystem broker is for one machine; use Redis in production.",
                id="stopclock.W001",
            )
        )
    return errors
