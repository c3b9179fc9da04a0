"""Governance reads: the proposal queue, one proposal with its evidence, the audit timeline.

Every list is one query for its rows (``select_related``) plus one for its count, so a
page costs the same number of queries whatever the queue holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from brain.canonical import canonical_hash, canonical_json
from governance.enums import ActorType, Decision, KillSwitchScope, ProposalStatus
from governance.models import Approval, AuditEvent, Execution, KillSwitch, Proposal

PROPOSAL_SORTS: dict[str, tuple[str, ...]] = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "risk": ("-risk", "-created_at", "-id"),
    "expiring": ("expires_at", "id"),
}

AGES: dict[str, tuple[timedelta | None, timedelta | None]] = {
    # key: (younger than, older than)
    "1h": (timedelta(hours=1), None),
    "24h": (timedelta(hours=24), None),
    "older-24h": (None, timedelta(hours=24)),
    "older-72h": (None, timedelta(hours=72)),
}


def pending_proposal_count(studio_id: int) -> int:
    """Proposals of a studio waiting for a decision (the navigation badge). One indexed COUNT."""
    return Proposal.objects.filter(
        studio_id=studio_id, status=ProposalStatus.PENDING_APPROVAL
    ).count()


@dataclass(frozen=True)
class ProposalFilters:
    status: str = ProposalStatus.PENDING_APPROVAL
    risk: int | None = None
    capability: str = ""
    requester: str = ""
    age: str = ""
    sort: str = "newest"


def proposal_list(
    studio_id: int, filters: ProposalFilters, *, now: datetime | None = None
) -> QuerySet[Proposal]:
    """The studio's proposals matching ``filters``, sorted, with what the queue shows preloaded."""
    now = now or timezone.now()
    qs = Proposal.objects.filter(studio_id=studio_id).select_related(
        "capability", "requested_by_user"
    )
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.risk is not None:
        qs = qs.filter(risk=filters.risk)
    if filters.capability:
        qs = qs.filter(capability_id=filters.capability)
    if filters.requester:
        kind, _, ident = filters.requester.partition(":")
        qs = qs.filter(requested_by_type=kind, requested_by_id=ident)
    if filters.age in AGES:
        younger, older = AGES[filters.age]
        if younger is not None:
            qs = qs.filter(created_at__gte=now - younger)
        if older is not None:
            qs = qs.filter(created_at__lt=now - older)
    return qs.order_by(*PROPOSAL_SORTS.get(filters.sort, PROPOSAL_SORTS["newest"]))


def proposal_requesters(studio_id: int) -> list[tuple[str, str]]:
    """(value, label) of everyone who has proposed in this studio, for the requester filter."""
    rows = (
        Proposal.objects.filter(studio_id=studio_id)
        .values_list("requested_by_type", "requested_by_id", "requested_by_user__username")
        .distinct()
        .order_by("requested_by_type", "requested_by_id")
    )
    return [(f"{kind}:{ident}", f"{kind}: {username or ident}") for kind, ident, username in rows]


def proposal_get(studio_id: int, proposal_id: int) -> Proposal | None:
    """A proposal of this studio (another studio's proposal is None, exactly like a missing one)."""
    return (
        Proposal.objects.filter(studio_id=studio_id, pk=proposal_id)
        .select_related("capability", "requested_by_user", "studio")
        .first()
    )


def approval_list(proposal: Proposal) -> list[Approval]:
    return list(proposal.approvals.select_related("approver").order_by("created_at", "id"))


def proposal_audit_events(proposal: Proposal) -> list[AuditEvent]:
    """This proposal's part of its studio's chain, in chain order."""
    return list(
        AuditEvent.objects.filter(
            studio_id=proposal.studio_id, target_type="proposal", target_id=str(proposal.pk)
        ).order_by("sequence")
    )


def approval_matches(proposal: Proposal) -> bool:
    """True when the stored input still hashes to the proposal's hash and every counted approval's.

    The execution gateway refuses (INPUT_CHANGED) when this is False.
    """
    recomputed = canonical_hash(proposal.input)
    if recomputed != proposal.input_hash:
        return False
    hashes = Approval.objects.filter(
        proposal=proposal, decision_round=proposal.decision_round, decision=Decision.GRANTED
    ).values_list("input_hash", flat=True)
    return all(value == recomputed for value in hashes)


def approval_is_fresh(proposal: Proposal, *, now: datetime | None = None) -> bool:
    """An approval counts for execution only within BRAIN_APPROVAL_WINDOW of ``approved_at``."""
    if proposal.approved_at is None:
        return False
    now = now or timezone.now()
    return now - proposal.approved_at < settings.BRAIN.approval_window


def canonical_input_text(proposal: Proposal) -> str:
    return canonical_json(proposal.input).decode("ascii")


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
        event.actor_label = labels[(event.actor_type, event.actor_id)]  # type: ignore[attr-defined]


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


def engaged_kill_switch(capability_id: str) -> KillSwitch | None:
    """The kill switch stopping ``capability_id`` now (the global one first), or None."""
    return (
        KillSwitch.objects.filter(engaged=True)
        .filter(
            Q(scope=KillSwitchScope.GLOBAL)
            | Q(scope=KillSwitchScope.CAPABILITY, capability_id=capability_id)
        )
        .select_related("engaged_by")
        .order_by("-scope")  # "global" sorts after "capability": descending puts it first
        .first()
    )


def kill_switch_list() -> list[KillSwitch]:
    return list(KillSwitch.objects.select_related("engaged_by", "released_by"))


def proposal_execution(proposal: Proposal) -> Execution | None:
    """The proposal's execution (there is at most one), with its connector."""
    return Execution.objects.filter(proposal=proposal).select_related("connector").first()


def granted_count(proposal: Proposal) -> int:
    """Distinct approvers who granted the current round: what the quorum counts."""
    return (
        Approval.objects.filter(
            proposal=proposal, decision_round=proposal.decision_round, decision=Decision.GRANTED
        )
        .values("approver")
        .distinct()
        .count()
    )
