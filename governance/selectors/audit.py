"""Audit reads: a studio's timeline, one proposal's part of the chain, readable actor names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from governance.enums import ActorType
from governance.models import AuditEvent, Proposal


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_event_list(studio_id: int, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The studio's chain, newest first, filtered by action prefix, actor, target and time."""
    qs = AuditEvent.objects.filter(studio_id=studio_id)
    if filters.action:
        qs = qs.filter(action__startswith=filters.action)
    if filters.actor:
        kind, sep, ident = filters.actor.partition(":")
        qs = (
            qs.filter(actor_type=kind, actor_id=ident) if sep else qs.filter(actor_id=filters.actor)
        )
    if filters.target:
        kind, sep, ident = filters.target.partition(":")
        qs = (
            qs.filter(target_type=kind, target_id=ident)
            if sep
            else qs.filter(target_type=filters.target)
        )
    if filters.since is not None:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(occurred_at__lt=filters.until)
    return qs.order_by("-sequence")


def proposal_audit_events(proposal: Proposal) -> list[AuditEvent]:
    """This proposal's part of its studio's chain, in chain order."""
    return list(
        AuditEvent.objects.filter(
            studio_id=proposal.studio_id, target_type="proposal", target_id=str(proposal.pk)
        ).order_by("sequence")
    )


def proposal_last_denial(proposal: Proposal) -> dict[str, Any] | None:
    """The most recent denied attempt on this proposal, for `proposal show`."""
    event = (
        AuditEvent.objects.filter(
            studio_id=proposal.studio_id,
            target_type="proposal",
            target_id=str(proposal.pk),
        )
        .filter(Q(action__endswith="_denied") | Q(action="execution.denied"))
        .order_by("-sequence")
        .first()
    )
    if event is None:
        return None
    return {
        "action": event.action,
        "reason_code": event.reason_code,
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": f"{event.actor_type}:{event.actor_id}",
    }


def actor_labels(events: Iterable[AuditEvent]) -> dict[tuple[str, str], str]:
    """Readable names for the actors of some events: usernames for staff, in one query."""
    events = list(events)
    staff_ids = {
        event.actor_id
        for event in events
        if event.actor_type == ActorType.STAFF and event.actor_id.isdigit()
    }
    usernames = (
        dict(get_user_model().objects.filter(pk__in=staff_ids).values_list("pk", "username"))
        if staff_ids
        else {}
    )
    labels = {}
    for event in events:
        key = (event.actor_type, event.actor_id)
        name = (
            usernames.get(int(event.actor_id))
            if key[0] == ActorType.STAFF and event.actor_id.isdigit()
            else None
        )
        labels[key] = name or f"{event.actor_type}: {event.actor_id}"
    return labels


def label_actors(events: Iterable[AuditEvent]) -> None:
    """Set ``actor_label`` on each event (for templates), with one query for all of them."""
    events = list(events)
    labels = actor_labels(events)
    for event in events:
        event.actor_label = labels[(event.actor_type, event.actor_id)]
