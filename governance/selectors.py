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
from django.db.models import (
    Case,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from brain.canonical import canonical_hash, canonical_json
from governance.enums import (
    ActorType,
    Decision,
    KillSwitchEventKind,
    KillSwitchScope,
    ProposalStatus,
)
from governance.models import (
    Approval,
    AuditEvent,
    Execution,
    KillSwitch,
    KillSwitchEvent,
    Proposal,
)

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


def _latest_event(kind: KillSwitchEventKind, field: str = "pk") -> Subquery:
    return Subquery(
        KillSwitchEvent.objects.filter(switch=OuterRef("pk"), kind=kind)
        .order_by("-pk")
        .values(field)[:1]
    )


def kill_switch_states() -> QuerySet[KillSwitch]:
    """Every switch, each annotated with its derived state: ``last_engaged`` and
    ``last_released`` (event ids), the engaging event's ``engaged_reason``,
    ``engaged_label`` and ``engaged_at``."""
    return KillSwitch.objects.select_related("studio", "connector").annotate(
        last_engaged=_latest_event(KillSwitchEventKind.ENGAGED),
        last_released=_latest_event(KillSwitchEventKind.RELEASE_CONFIRMED),
        engaged_reason=_latest_event(KillSwitchEventKind.ENGAGED, "reason"),
        engaged_label=_latest_event(KillSwitchEventKind.ENGAGED, "actor_label"),
        engaged_at=_latest_event(KillSwitchEventKind.ENGAGED, "occurred_at"),
    )


ENGAGED = Q(last_engaged__isnull=False) & (
    Q(last_released__isnull=True) | Q(last_released__lt=F("last_engaged"))
)


def engaged_kill_switches() -> QuerySet[KillSwitch]:
    """The switches that are on now (their latest engagement was not confirmed released)."""
    return kill_switch_states().filter(ENGAGED)


SCOPE_ORDER = (
    KillSwitchScope.GLOBAL,
    KillSwitchScope.STUDIO,
    KillSwitchScope.CAPABILITY,
    KillSwitchScope.CONNECTOR,
)


def engaged_kill_switch(
    capability_id: str, *, studio_id: int | None = None, connector_id: int | None = None
) -> KillSwitch | None:
    """The switch stopping ``capability_id`` (in ``studio_id``, through ``connector_id``) now,
    or None. The broadest wins: global, then the studio, the capability, the connector.
    One query."""
    covers = Q(scope=KillSwitchScope.GLOBAL) | Q(
        scope=KillSwitchScope.CAPABILITY, capability_id=capability_id
    )
    if studio_id is not None:
        covers |= Q(scope=KillSwitchScope.STUDIO, studio_id=studio_id)
    if connector_id is not None:
        covers |= Q(scope=KillSwitchScope.CONNECTOR, connector_id=connector_id)
    breadth = Case(
        *(When(scope=scope, then=Value(rank)) for rank, scope in enumerate(SCOPE_ORDER)),
        output_field=IntegerField(),
    )
    return engaged_kill_switches().filter(covers).order_by(breadth, "pk").first()


def kill_switches_covering(studio_id: int) -> list[KillSwitch]:
    """Every engaged switch that stops anything in this studio (for the red banner).
    One query."""
    return list(
        engaged_kill_switches()
        .filter(
            Q(scope__in=(KillSwitchScope.GLOBAL, KillSwitchScope.CAPABILITY))
            | Q(studio_id=studio_id)
        )
        .order_by("scope", "pk")
    )


def kill_switch_list(studio_id: int | None = None) -> list[KillSwitch]:
    """Every switch (for one studio: the runtime-wide ones and this studio's), with its
    events prefetched and ``engaged`` / ``pending_request`` set from them."""
    qs = kill_switch_states().prefetch_related("events")
    if studio_id is not None:
        qs = qs.filter(Q(studio__isnull=True) | Q(studio_id=studio_id))
    rows = list(qs.order_by("scope", "capability_id", "pk"))
    for row in rows:
        engaged, pending = kill_switch_state(row)
        row.engaged = engaged  # type: ignore[attr-defined]
        row.pending_request = pending  # type: ignore[attr-defined]
    return rows


def kill_switch_state(switch: KillSwitch) -> tuple[bool, KillSwitchEvent | None]:
    """(on?, the open release request) from the switch's prefetched ``events``."""
    engaged = False
    pending: KillSwitchEvent | None = None
    for event in switch.events.all():
        if event.kind == KillSwitchEventKind.ENGAGED:
            engaged, pending = True, None
        elif event.kind == KillSwitchEventKind.RELEASE_REQUESTED and engaged:
            pending = event
        elif event.kind == KillSwitchEventKind.RELEASE_CONFIRMED:
            engaged, pending = False, None
    return engaged, pending


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
