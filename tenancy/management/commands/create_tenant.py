from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenancy.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="UTC")

    def handle(self, slug, name, timezone, **options):
        try:
            tenant = tenant_create(slug=slug, name=name, timezone_name=timezone)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        self.stdout.write(f"created tenant {tenant.slug} (id {tenant.pk})")
