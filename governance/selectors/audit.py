"""Audit reads: a studio's timeline, one proposal's part of the chain, readable actor names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from governance.enums import ActorType
from governance.models import AuditEvent, PolicyDecision, Proposal
from governance.reasons import ReasonCode, explain


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


# What a denied attempt was asking for, in the studio's words (the action is on hover).
DENIED_ACTIONS: dict[str, str] = {
    "agent.create_denied": "Register an agent",
    "agent.token_issue_denied": "Issue an agent token",
    "agent.token_revoke_denied": "Revoke an agent token",
    "agent.token_rotate_denied": "Rotate an agent token",
    "approval.grant_denied": "Approve a proposal",
    "approval.reject_denied": "Reject a proposal",
    "connector.add_denied": "Add a connector",
    "connector.change_denied": "Change a connector",
    "connector.remove_denied": "Remove a connector",
    "delegation.create_denied": "Delegate to an agent",
    "delegation.revoke_denied": "Revoke a delegation",
    "delegation.denied": "Act under a delegation",
    "execution.denied": "Run a proposal",
    "exemption.approve_denied": "Approve an exemption",
    "exemption.request_denied": "Request an exemption",
    "exemption.revoke_denied": "Revoke an exemption",
    "kill_switch.denied": "Change a kill switch",
    "membership.add_denied": "Add a staff member",
    "membership.remove_denied": "Remove a staff member",
    "membership.role_change_denied": "Change a staff member's role",
    "proposal.reopen_denied": "Reopen a proposal",
    "proposal.submit_denied": "Submit a proposal",
    "proposal.transition_denied": "Move a proposal on",
    "rate_limit.reset_denied": "Reset a counter",
    "rate_limit_triggered": "Go over a rate limit",
    "rate_limit_unavailable": "Count against a rate limit",
    "policy.delegation.denied": "Act under a delegation",
    "policy.submission.denied": "Submit a proposal (agent)",
    "policy.rate_limit.denied": "Go over a rate limit",
    "policy.quota.denied": "Go over a quota",
}


@dataclass(frozen=True)
class Denial:
    """One denied attempt as the Policy page lists it."""

    sequence: int
    occurred_at: datetime
    action: str
    asked: str  # what was asked for, in words
    actor_label: str
    reason_code: str
    sentence: str  # the denial's own message, else the code's plain explanation
    explanation: str  # the code's plain explanation
    target_type: str
    target_id: str
    proposal_id: int | None
    decision_id: int | None

    @property
    def audit_query(self) -> str:
        """The audit timeline's filter that finds this entry."""
        query = {"action": self.action}
        if self.target_id:
            query["target"] = f"{self.target_type}:{self.target_id}"
        return urlencode(query, safe=":")


def _is_denial() -> Q:
    # Governed services audit a refusal as ``<thing>.<verb>_denied`` (or ``execution.denied``,
    # ``kill_switch.denied``); the policy layer's stored decisions are events on a
    # ``policy_decision`` whose reason is not ALLOWED (the rate limiter names its own actions).
    return Q(action__endswith="denied") | (
        Q(target_type="policy_decision") & ~Q(reason_code__in=["", ReasonCode.ALLOWED])
    )


def denial_list(studio_id: int, *, limit: int = 25) -> list[Denial]:
    """The studio's most recent denied attempts, newest first, from its audit chain: every
    service's denials (invalid input, self-approval, a repeated decision, writes disabled, a
    kill switch, ...) and the policy layer's denied decisions.

    A governed denial that carries a policy decision (``metadata["decision_id"]``) is
    written next to that decision's own event; the two are listed once, as the denial.
    Three queries whatever the list holds: the events, the staff names, the decisions'
    messages.
    """
    # Twice the limit: each listed denial hides at most one decision event.
    events = list(
        AuditEvent.objects.filter(_is_denial(), studio_id=studio_id).order_by("-sequence")[
            : limit * 2
        ]
    )
    metadata = {event.pk: event.metadata for event in events}
    covered = {
        str(metadata[event.pk]["decision_id"])
        for event in events
        if event.target_type != "policy_decision" and metadata[event.pk].get("decision_id")
    }
    events = [
        event
        for event in events
        if not (event.target_type == "policy_decision" and event.target_id in covered)
    ][:limit]
    labels = actor_labels(events)
    decision_ids = [
        int(event.target_id)
        for event in events
        if event.target_type == "policy_decision" and event.target_id.isdigit()
    ]
    messages = dict(PolicyDecision.objects.filter(pk__in=decision_ids).values_list("pk", "message"))
    return [_denial(event, metadata[event.pk], labels, messages) for event in events]


def _denial(
    event: AuditEvent,
    metadata: dict[str, Any],
    labels: dict[tuple[str, str], str],
    messages: dict[int, str],
) -> Denial:
    on_decision = event.target_type == "policy_decision" and event.target_id.isdigit()
    named = metadata.get("decision_id")
    decision_id = int(event.target_id) if on_decision else named if isinstance(named, int) else None
    if event.target_type == "proposal" and event.target_id.isdigit():
        proposal_id: int | None = int(event.target_id)
    else:
        proposal = metadata.get("proposal")
        proposal_id = proposal if isinstance(proposal, int) else None
    explanation = _explanation(event.reason_code)
    sentence = metadata.get("message") or (
        messages.get(decision_id, "") if on_decision and decision_id is not None else ""
    )
    return Denial(
        sequence=event.sequence,
        occurred_at=event.occurred_at,
        action=event.action,
        asked=DENIED_ACTIONS.get(event.action, event.action.replace("_", " ").replace(".", ": ")),
        actor_label=labels[(event.actor_type, event.actor_id)],
        reason_code=event.reason_code,
        sentence=sentence or explanation,
        explanation=explanation,
        target_type=event.target_type,
        target_id=event.target_id,
        proposal_id=proposal_id,
        decision_id=decision_id,
    )


def _explanation(code: str) -> str:
    try:
        return explain(ReasonCode(code))
    except (ValueError, KeyError):  # not a ReasonCode (AUTH_FAILED) or not explained
        return code
