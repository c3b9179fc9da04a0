"""Notifications: ``notify.emit(...)`` where something happens; Celery delivers by email and webhook.

    from brain import notify
    notify.emit(studio_id=..., kind=notify.EventKind.KILL_SWITCH_ENGAGED, ...)

``emit`` writes the event into the outbox in the caller's transaction and queues its fan-out
with ``transaction.on_commit``; see ``brain.notify.services`` and docs/notifications.md.
"""

from __future__ import annotations

from typing import Any

from brain.notify.models import EventKind, Severity

__all__ = ["EventKind", "Severity", "emit"]


def emit(**event: Any) -> Any:
    """Record an event for the studio's members (see ``brain.notify.services.notify_emit``);
    the outbox row, or None when a deduplicated event was already recorded."""
    from brain.notify.services import notify_emit

    return notify_emit(**event)
