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
        from brain.signals import studio_state_captured
        from brain.tasks import queue_reconciliation

        # Every capture that read Stripe is followed by a reconciliation on the reads queue.
        studio_state_captured.connect(
            queue_reconciliation, dispatch_uid="brain.reconciliation_after_capture"
        )
