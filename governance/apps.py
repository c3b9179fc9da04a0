from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_capabilities(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    from governance.services.capabilities import capability_sync

    # Migrating governance backwards (to zero) also ends with post_migrate: nothing to mirror into.
    if "governance_capability" not in connections[using].introspection.table_names():
        return
    capability_sync()


def _sync_agents(sender: Any, studio: Any, **kwargs: Any) -> None:
    """After each committed capture: refresh agents and delegations from the fresh mirror."""
    from governance.services.agents import agents_sync_from_mirror

    agents_sync_from_mirror(studio=studio)


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from governance import auth_events

        auth_events.connect()
        # brain announces captures with a signal (it must not import governance).
        from brain.signals import studio_state_captured

        studio_state_captured.connect(_sync_agents, dispatch_uid="governance.agents_sync")
        # The code's capability registry is mirrored into the database after every migrate
        # (and after a test flush, which also emits post_migrate).
        post_migrate.connect(
            _sync_capabilities, sender=self, dispatch_uid="governance.capability_sync"
        )
        # Bulk deletes in the admin write their log entries with bulk_create, which sends no
        # signal and so could not be audited: the admin deletes one object at a time here.
        admin.site.disable_action("delete_selected")
