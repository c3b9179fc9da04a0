"""Bulk review: approve or reject up to ``BULK_LIMIT`` proposals with one rationale.

Each proposal gets the checks of a single decision (``approvals.check_decision``, the
function ``approval_grant`` / ``approval_reject`` run), its own row, its own
``approval.granted`` / ``approval.rejected`` event (``approvals.decision_event``, marked
``bulk``), or its own audited denial (``approval.grant_denied`` / ``reject_denied``, as
``governed`` writes it). High and critical risk are never approved in bulk
(BULK_NOT_ALLOWED): they need the individual panel.

What makes 100 decisions cheaper than 100 single ones is doing the per-item reads and
writes as sets, in one transaction that commits once: the proposals are locked in one
statement (in id order, so overlapping batches wait instead of deadlocking), the
approver's rows and the rounds' grant counts read in one query each, the approvals
inserted and the proposals updated in one statement each; the audit events stay one per
item, in id order. The rationale and the role are checked once for the batch: a viewer's
batch is one denial, not a hundred. An unexpected error rolls the whole batch back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Count, F
from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import Decision
from governance.errors import Denied
from governance.models import Approval, Proposal
from governance.reasons import ReasonCode
from governance.services.approvals import (
    DECIDED_FIELDS,
    apply_decision,
    check_decision,
    decision_event,
    decision_row,
)
from governance.services.common import (
    PROPOSAL,
    Target,
    audit_denial,
    governed,
    require_rationale,
    require_role,
)
from governance.transitions import Event

BULK_LIMIT = 100


class BulkVerb(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class BulkOutcome:
    """What happened to one proposal of the batch."""

    proposal_id: int
    decided: bool
    status: str = ""  # the proposal's status afterwards ("" when not found)
    code: str = ""  # the denial's reason code ("" when decided)
    message: str = ""


def approval_bulk_decide(
    *,
    studio_id: int,
    proposal_ids: Iterable[int],
    actor: Actor,
    rationale: str,
    verb: BulkVerb,
) -> list[BulkOutcome]:
    """Approve or reject each of ``proposal_ids`` (this studio's; another studio's or a
    missing one is reported not found, and nothing is written about it) with one rationale;
    one outcome per proposal, in id order. The batch itself is denied (audited as
    ``approval.bulk_denied``, nothing decided) for RATIONALE_REQUIRED, ACTOR_NOT_ALLOWED,
    TENANT_MISMATCH, ROLE_REQUIRED, and INPUT_INVALID when it is empty or longer than
    ``BULK_LIMIT``. Ends with one ``approval.bulk_decided`` event counting what happened.
    """
    wanted = sorted(set(proposal_ids))
    event = Event.VOTE if verb == BulkVerb.APPROVE else Event.REJECT
    denied_action = "approval.grant_denied" if event == Event.VOTE else "approval.reject_denied"

    def body() -> list[BulkOutcome]:
        if not wanted or len(wanted) > BULK_LIMIT:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                f"Select between 1 and {BULK_LIMIT} proposals (got {len(wanted)}).",
                studio_id=studio_id,
            )
        cleaned = require_rationale(rationale, studio_id=studio_id)
        require_role(actor, studio_id=studio_id, minimum=Role.APPROVER)
        proposals = {
            proposal.pk: proposal
            for proposal in Proposal.objects.select_for_update()
            .filter(studio_id=studio_id, pk__in=wanted)
            .order_by("pk")
        }
        mine = {
            approval.proposal_id: approval
            for approval in Approval.objects.filter(
                proposal__in=list(proposals),
                approver=actor.user,
                decision_round=F("proposal__decision_round"),
            )
        }
        now = timezone.now()
        denials: dict[int, Denied] = {}
        allowed: list[Proposal] = []
        for proposal in proposals.values():
            try:
                check_decision(proposal, actor, mine.get(proposal.pk), event, now=now, bulk=True)
            except Denied as denial:
                denials[proposal.pk] = denial
            else:
                allowed.append(proposal)
        granted = _granted_before(allowed) if event == Event.VOTE else {}
        decision = Decision.GRANTED if event == Event.VOTE else Decision.REJECTED
        rows = {
            p.pk: decision_row(p, actor, decision, cleaned, mine.get(p.pk), now) for p in allowed
        }
        again = [row for row in rows.values() if row.pk is not None]
        Approval.objects.bulk_create([row for row in rows.values() if row.pk is None])
        for row in again:
            row.save()  # a withdrawn grant decided again: one row per approver and round
        counts = {p.pk: granted.get(p.pk, 0) + 1 for p in allowed}
        for proposal in allowed:
            apply_decision(proposal, event, counts[proposal.pk], now)
        Proposal.objects.bulk_update(allowed, DECIDED_FIELDS)

        outcomes = []
        for proposal_id in wanted:
            found = proposals.get(proposal_id)
            refused = denials.get(proposal_id)
            if found is None:
                outcomes.append(BulkOutcome(proposal_id, False, message="No such proposal."))
            elif refused is not None:
                audit_denial(
                    refused,
                    action=denied_action,
                    actor=actor,
                    target=PROPOSAL,
                    metadata={"bulk": True},
                )
                outcomes.append(
                    BulkOutcome(
                        proposal_id, False, found.status, str(refused.code), refused.message
                    )
                )
            else:
                audit_append(
                    **decision_event(
                        found,
                        actor,
                        rows[proposal_id],
                        granted=counts[proposal_id],
                        bulk=True,
                    )
                )
                outcomes.append(BulkOutcome(proposal_id, True, found.status))
        decided = sum(1 for outcome in outcomes if outcome.decided)
        audit_append(
            studio=studio_id,
            actor=actor,
            action="approval.bulk_decided",
            target_type="studio",
            target_id=studio_id,
            reason_code=ReasonCode.ALLOWED,
            metadata={
                "verb": str(verb),
                "rationale": cleaned,
                "selected": len(wanted),
                "decided": decided,
                "denied": len(wanted) - decided,
                "proposals": wanted,
            },
        )
        return outcomes

    return governed(
        "approval.bulk_denied",
        actor,
        body,
        target=Target("studio", studio_id, studio_id=studio_id),
        metadata={"verb": str(verb), "selected": len(wanted)},
    )


def _granted_before(proposals: list[Proposal]) -> dict[int, int]:
    """Distinct approvers who granted each proposal's current round so far (one query)."""
    rows = (
        Approval.objects.filter(
            proposal__in=proposals,
            decision=Decision.GRANTED,
            decision_round=F("proposal__decision_round"),
        )
        .values("proposal_id")
        .annotate(granted=Count("approver", distinct=True))
    )
    return {row["proposal_id"]: row["granted"] for row in rows}
