"""Row-Level Security, checked where it is declared (any database, SQLite included).

The PostgreSQL catalogue and behaviour are proven in tests/tenancy/test_rls.py; these
checks fail earlier, on every run: a new tenant-owned table whose migration forgets
`EnableTenantRLS`, a model holding tenant rows without the tenant-owned base, a
many-to-many that would create a join table with no tenant column.
"""

from __future__ import annotations

from django.apps import apps
from django.db.migrations.loader import MigrationLoader

from tenancy.models import Tenant, TenantOwnedModel
from tenancy.rls import EnableTenantRLS

from .world import tenant_owned_models


def _rls_tables() -> set[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)  # from disk, no database
    return {
        operation.table
        for migration in loader.disk_migrations.values()
        for operation in migration.operations
        if isinstance(operation, EnableTenantRLS)
    }


def test_every_tenant_owned_table_gets_row_level_security_in_a_migration():
    tables = {model._meta.db_table for model in tenant_owned_models()}
    assert len(tables) >= 50
    covered = _rls_tables()
    assert sorted(tables - covered) == [], "add EnableTenantRLS(<table>) to their migrations"
    assert sorted(covered - tables) == [], "EnableTenantRLS names a table no model has"


def test_every_model_that_points_at_a_tenant_is_tenant_owned():
    """A `tenant` foreign key outside the base has no scoped manager, no write guard and no
    policy: every model with a foreign key to Tenant must be a TenantOwnedModel."""
    loose = sorted(
        model._meta.label
        for model in apps.get_models(include_auto_created=True)
        if not issubclass(model, TenantOwnedModel)
        and any(f.is_relation and f.related_model is Tenant for f in model._meta.concrete_fields)
    )
    assert loose == []


def test_many_to_many_between_tenant_rows_go_through_a_tenant_owned_table():
    """Django's automatic join table has no tenant column (so no scoping and no policy):
    a many-to-many touching a tenant-owned model must name a TenantOwnedModel `through`."""
    loose = []
    for model in apps.get_models():
        for field in model._meta.local_many_to_many:
            ends = (model, field.related_model)
            through = field.remote_field.through
            if any(issubclass(m, TenantOwnedModel) for m in ends) and not issubclass(
                through, TenantOwnedModel
            ):
                loose.append(f"{model._meta.label}.{field.name} through {through._meta.label}")
    assert loose == []
    throughs = {
        f.remote_field.through._meta.label
        for m in tenant_owned_models()
        for f in m._meta.local_many_to_many
    }
    assert len(throughs) >= 6  # the check saw the case, endpoint and IOC tag/group tables
