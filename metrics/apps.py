from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from .aggregation import register_sqlite_functions
        from .projection import install_triggers

        # SQLite computes trend buckets in the tenant's zone with a registered function.
        connection_created.connect(register_sqlite_functions, dispatch_uid="metrics.sqlite")
        # The triggers that keep the span projection equal to the case rows.
        post_migrate.connect(install_triggers, sender=self, dispatch_uid="metrics.triggers")
