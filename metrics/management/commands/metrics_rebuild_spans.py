from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from metrics import projection
from tenancy.context import tenant_context
from tenancy.management.commands._helpers import get_tenant
from tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Rebuild the span projection (metrics_casespan) from the case rows and say whether "
        "it had drifted. Never needed in normal operation (triggers queue every case write "
        "and every read catches up); a check after a restore, a manual data fix or an upgrade "
        "that changes the clock definitions. Exit 1 with --check when it had drifted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="one tenant's slug (default: every tenant)")
        parser.add_argument(
            "--check", action="store_true", help="exit 1 if the projection differed"
        )

    def handle(self, tenant=None, check=False, **options):
        tenants = [get_tenant(tenant)] if tenant else list(Tenant.objects.order_by("slug"))
        drifted = []
        for tenant_obj in tenants:
            with tenant_context(tenant_obj):
                projection.catch_up(tenant_obj.pk)
                before = projection.fingerprint()
                queued = projection.rebuild(tenant_obj.pk)
                after = projection.fingerprint()
            same = before == after
            if not same:
                drifted.append(tenant_obj.slug)
            self.stdout.write(
                f"{tenant_obj.slug}: {queued} cases recomputed, {after[0]} spans; "
                + ("the projection was up to date" if same else "the projection HAD DRIFTED")
            )
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE metrics_casespan")
        if check and drifted:
            raise CommandError(f"span projection had drifted for: {', '.join(drifted)}")
