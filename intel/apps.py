from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_save


def _sqlite_functions(sender, connection, **kwargs):
    """The two helpers sweeps need on SQLite (PostgreSQL has inet and arrays built in)."""
    if connection.vendor != "sqlite":
        return
    from .matching import domain_suffix, ip_hex

    connection.connection.create_function("sc_ip_hex", 1, ip_hex, deterministic=True)
    connection.connection.create_function("sc_domain_suffix", 2, domain_suffix, deterministic=True)


class IntelConfig(AppConfig):
    name = "intel"
    verbose_name = "Intel"

    def ready(self):
        from endpoints.processing import register_batch_processor

        from .services import check_batch_hashes, match_batch

        connection_created.connect(_sqlite_functions, dispatch_uid="intel.sqlite_functions")
        # Every telemetry batch: hash reputation first (a bad hash opens a case at once),
        # then continuous matching against the active IOCs.
        register_batch_processor(check_batch_hashes, name="intel.hash_reputation")
        register_batch_processor(match_batch, name="intel.continuous_matching")
        # Evidence uploaded to a case is scanned with the active YARA rules (a task).
        post_save.connect(
            _scan_new_evidence, sender="cases.Evidence", dispatch_uid="intel.yara_evidence"
        )


def _scan_new_evidence(sender, instance, created, **kwargs):
    if not created:
        return
    from tenancy import outbox

    from .tasks import yara_scan_evidence_task

    outbox.enqueue(yara_scan_evidence_task, tenant_id=instance.tenant_id, evidence_id=instance.pk)
