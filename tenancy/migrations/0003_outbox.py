import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import tenancy.rls


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0002_tenant_settings"),
    ]

    operations = [
        migrations.CreateModel(
            name="OutboxMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("task", models.CharField(max_length=200)),
                ("kwargs", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "attempts",
                    models.PositiveIntegerField(default=0, help_text="failed sends by the drain"),
                ),
                ("last_error", models.CharField(blank=True, max_length=500)),
                (
                    "tenant",
                    models.ForeignKey(
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["created_at"], name="outbox_created")],
            },
        ),
        tenancy.rls.EnableTenantRLS("tenancy_outboxmessage"),
    ]
