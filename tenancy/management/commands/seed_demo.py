"""Seed the demo: tenants, a user for every role, then each app's demo data (idempotent)."""

from importlib import import_module

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import Membership, Tenant
from tenancy.services import membership_set, tenant_create, user_create

DEMO_PASSWORD = "stopclock-demo"  # noqa: S105 - the published demo login
TENANTS = (
    ("acme", "Acme Corporation", "Europe/Paris"),
    ("globex", "Globex Inc.", "America/New_York"),
)
USERS = {
    # username: {tenant slug: role}
    "admin": {"acme": roles.ADMIN, "globex": roles.ANALYST},
    "lead": {"acme": roles.LEAD},
    "analyst": {"acme": roles.ANALYST, "globex": roles.LEAD},
    "auditor": {"acme": roles.AUDITOR},
    "integration": {"acme": roles.INTEGRATION},
    "globex-admin": {"globex": roles.ADMIN},
}
APPS_WITH_DEMO = ("cases", "endpoints", "intel", "metrics")


class Command(BaseCommand):
    help = "Create the demo tenants, users and data. Running it again changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--skip-data", action="store_true", help="only tenants and users")

    def handle(self, skip_data=False, **options):
        tenants = {}
        for slug, name, tz in TENANTS:
            tenant = Tenant.objects.filter(slug=slug).first()
            tenants[slug] = tenant or tenant_create(slug=slug, name=name, timezone_name=tz)
        User = get_user_model()
        for username, grants in USERS.items():
            with transaction.atomic():
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = user_create(
                        username=username, password=DEMO_PASSWORD, email=f"{username}@example.com"
                    )
                for slug, role in grants.items():
                    with tenant_context(tenants[slug]):
                        if not Membership.objects.filter(user=user, role=role).exists():
                            membership_set(user=user, role=role)
        if not skip_data:
            for app in APPS_WITH_DEMO:
                try:
                    module = import_module(f"{app}.demo")
                except ModuleNotFoundError as exc:
                    if not f"{app}.demo".startswith(exc.name or "?"):
                        raise
                    continue
                for tenant in tenants.values():
                    with tenant_context(tenant):
                        module.seed(tenant, self.stdout)
        self.stdout.write(
            "demo ready: tenants "
            + ", ".join(tenants)
            + f"; sign in as admin / {DEMO_PASSWORD} (also lead, analyst, auditor)"
        )
