from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenancy import roles
from tenancy.context import tenant_context
from tenancy.services import membership_set, user_create

from ._helpers import get_tenant


class Command(BaseCommand):
    help = "Create a user (or reuse an existing one) and give them a role in a tenant."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--role", required=True, choices=sorted(roles.ALL))
        parser.add_argument("--password", help="omit for an API-only user with no password")
        parser.add_argument("--email", default="")

    def handle(self, username, tenant, role, password, email, **options):
        tenant_obj = get_tenant(tenant)
        User = get_user_model()
        try:
            with transaction.atomic():
                user = User.objects.filter(username=username).first()
                created = user is None
                if created:
                    user = user_create(username=username, password=password, email=email)
                elif password:
                    user.set_password(password)
                    user.save(update_fields=["password"])
                with tenant_context(tenant_obj):
                    membership_set(user=user, role=role)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        verb = "created" if created else "updated"
        self.stdout.write(f"{verb} user {username}: {role} in {tenant_obj.slug}")
