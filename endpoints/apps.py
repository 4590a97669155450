from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    name = "endpoints"

    def ready(self):
        from . import schema  # noqa: F401 - registers the agent authentication schemes
