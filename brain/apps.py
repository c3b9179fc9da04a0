from django.apps import AppConfig


class BrainConfig(AppConfig):
    name = "brain"
    verbose_name = "Studio Brain runtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from brain import (
            checks,  # noqa: F401  (registers the system checks)
            tasks_connectors,  # noqa: F401  (registers the connectors' readiness lines)
        )
