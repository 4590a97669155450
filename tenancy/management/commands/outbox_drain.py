from django.core.management.base import BaseCommand

from tenancy.outbox import GRACE_SECONDS, drain


class Command(BaseCommand):
    help = (
        "Send the Celery messages left in the outbox while the broker was unreachable "
        "(beat does it every 30 s; this is the same, now)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", help="include messages younger than the grace period"
        )

    def handle(self, all, **options):
        sent = drain(older_than=0 if all else GRACE_SECONDS)
        self.stdout.write(f"sent {sent} message(s)")
