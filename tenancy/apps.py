from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = "Tenancy"

    def ready(self):
        from . import checks, schema  # noqa: F401 - registers checks and schema extensions
        from .rls import grant_app_role

        post_migrate.connect(grant_app_role, dispatch_uid="tenancy.grant_app_role")
