from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .aggregation import register_sqlite_functions

        # SQLite computes trend buckets in the tenant's zone with a registered function.
        connection_created.connect(register_sqlite_functions, dispatch_uid="metrics.sqlite")
