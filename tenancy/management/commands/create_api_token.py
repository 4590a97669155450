from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenancy.context import tenant_context
from tenancy.services import api_token_create

from ._helpers import get_tenant


class Command(BaseCommand):
    help = "Create an API token for a member of a tenant and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", default="cli")
        parser.add_argument("--days", type=int, default=None, help="0 = never expires")

    def handle(self, tenant, user, name, days, **options):
        tenant_obj = get_tenant(tenant)
        user_obj = get_user_model().objects.filter(username=user).first()
        if user_obj is None:
            raise CommandError(f"no user {user!r}")
        try:
            with tenant_context(tenant_obj):
                _token, key = api_token_create(user=user_obj, name=name, days=days)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(key)
