from django.db import migrations

from tenancy.rls import RefreshTenantPolicies


class Migration(migrations.Migration):
    """The tenant policy reads its settings once per statement, not twice per row."""

    dependencies = [
        ("tenancy", "0003_outbox"),
    ]

    operations = [RefreshTenantPolicies()]
