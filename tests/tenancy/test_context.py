import pytest
from django.db import connection

from tenancy import roles
from tenancy.context import (
    TenantContextMissing,
    TenantMismatch,
    current_tenant,
    tenant_context,
    unscoped,
)
from tenancy.models import Membership
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def two_tenants_with_members(tenant_a, tenant_b):
    MembershipFactory(tenant=tenant_a, role=roles.ANALYST)
    MembershipFactory(tenant=tenant_b, role=roles.ANALYST)
    MembershipFactory(tenant=tenant_b, role=roles.LEAD)
    return tenant_a, tenant_b


def test_query_without_tenant_in_context_raises(two_tenants_with_members):
    with pytest.raises(TenantContextMissing):
        Membership.objects.count()
    with pytest.raises(TenantContextMissing):
        list(Membership.objects.filter(role=roles.ANALYST))


def test_queryset_made_at_import_time_binds_when_evaluated(two_tenants_with_members):
    tenant_a, tenant_b = two_tenants_with_members
    template = Membership.objects.all()  # no tenant in context: deferred
    with tenant_context(tenant_a):
        assert {m.tenant_id for m in template} == {tenant_a.pk}
        assert template.count() == 1
    with tenant_context(tenant_b):
        assert {m.tenant_id for m in template} == {tenant_b.pk}
        assert template.filter(role=roles.LEAD).exists()
        assert Membership.objects.filter(pk__in=template.values("pk")).count() == 2


def test_unscoped_is_the_only_way_across_tenants(two_tenants_with_members):
    with unscoped("test: count every tenant's members"):
        assert Membership.objects.count() == 3
    with pytest.raises(TenantContextMissing):
        Membership.objects.count()


def test_writing_a_row_into_another_tenant_is_refused(two_tenants_with_members):
    tenant_a, tenant_b = two_tenants_with_members
    with tenant_context(tenant_b):
        foreign = Membership.objects.first()
    with tenant_context(tenant_a), pytest.raises(TenantMismatch):
        foreign.save()


def test_new_rows_take_the_tenant_in_context(tenant_a):
    with tenant_context(tenant_a):
        created = Membership.objects.bulk_create(
            [Membership(user=UserFactory(), role=roles.ANALYST)]
        )
        assert created[0].tenant_id == tenant_a.pk


def test_contexts_nest_and_reset(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        with tenant_context(tenant_b):
            assert current_tenant() == tenant_b
        assert current_tenant() == tenant_a
    assert current_tenant() is None


def test_request_leaves_no_tenant_behind(tenant_a, web_client):
    client = web_client(tenant_a, roles.ANALYST)
    assert client.get(client.url()).status_code == 200
    assert current_tenant() is None


def test_postgres_session_follows_the_context(tenant_a, tenant_b, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL session settings")
    with tenant_context(tenant_a):
        Membership.objects.exists()
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.tenant_id')")
            assert cursor.fetchone()[0] == str(tenant_a.pk)
    with tenant_context(tenant_b), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id')")
        assert cursor.fetchone()[0] == str(tenant_b.pk)
