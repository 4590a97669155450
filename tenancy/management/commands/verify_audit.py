from django.core.management.base import BaseCommand, CommandError

from tenancy.models import Tenant
from tenancy.selectors import audit_verify

from ._helpers import get_tenant


class Command(BaseCommand):
    help = "Verify each tenant's audit hash chain; exit 1 and name the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="one tenant's slug (default: every tenant)")

    def handle(self, tenant=None, **options):
        tenants = [get_tenant(tenant)] if tenant else list(Tenant.objects.order_by("slug"))
        broken = []
        for tenant_obj in tenants:
            report = audit_verify(tenant_obj)
            if report.ok:
                self.stdout.write(f"{tenant_obj.slug}: ok, {report.events} events")
            else:
                broken.append(tenant_obj.slug)
                self.stdout.write(
                    f"{tenant_obj.slug}: BROKEN at event #{report.broken_seq}: {report.reason}"
                )
        if broken:
            raise CommandError(f"audit chain broken for: {', '.join(broken)}")
