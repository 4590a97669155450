"""`python manage.py enrolment_secret --tenant SLUG [--rotate]`: print the agents' secret."""

from django.core.management.base import BaseCommand, CommandError

from endpoints.services import SecretUnavailable, enrolment_secret_reveal, enrolment_secret_rotate
from tenancy.context import Actor, set_actor, tenant_context
from tenancy.management.commands._helpers import get_tenant


class Command(BaseCommand):
    help = "Print the tenant's agent enrolment secret (created on first use); --rotate replaces it."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--rotate", action="store_true", help="issue a new secret (the old one stops working)"
        )

    def handle(self, tenant, rotate, **options):
        tenant_obj = get_tenant(tenant)
        set_actor(Actor(kind="system", id="cli", label="manage.py enrolment_secret"))
        with tenant_context(tenant_obj):
            try:
                secret = enrolment_secret_rotate() if rotate else enrolment_secret_reveal()
            except SecretUnavailable as exc:
                raise CommandError(f"{exc} (run with --rotate)") from exc
        self.stdout.write(secret)
