"""Approval decisions: grant (counting towards the quorum), reject, and withdraw a grant.

An approval binds the approver, the decision round and the exact input hash they saw;
the execution gateway later refuses to run a proposal whose input no longer hashes to it.
A withdrawn grant stops counting (its row reads ``withdrawn``); its approver may decide
again in the same round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType, Decision, ProposalStatus, Risk
from governance.errors import Denied
from governance.models import Approval, Execution, Proposal
from governance.reasons import ReasonCode
from governance.services.common import (
    PROPOSAL,
    governed,
    lock_proposal,
    require_rationale,
    require_role,
    step,
)
from governance.transitions import Event


def check_decision(
    proposal: Proposal,
    actor: Actor,
    mine: Approval | None,
    event: Event,
    *,
    now: datetime,
    bulk: bool = False,
) -> None:
    """One proposal's checks for a grant (``Event.VOTE``) or a rejection, once the rationale
    and the role passed: awaiting a decision, not expired, not decided by this approver in
    this round (``mine``: their row of the round, if any); a grant also not of the approver's
    own proposal and, in bulk, not high or critical risk. The single services and the bulk
    one run exactly this, in this order."""
    step(proposal, event)  # the proposal must be awaiting a decision
    if proposal.expires_at is not None and proposal.expires_at <= now:
        raise Denied(
            ReasonCode.PROPOSAL_EXPIRED, studio_id=proposal.studio_id, proposal_id=proposal.pk
        )
    if mine is not None and mine.decision != Decision.WITHDRAWN:
        raise Denied(
            ReasonCode.ALREADY_DECIDED, studio_id=proposal.studio_id, proposal_id=proposal.pk
        )
    if event != Event.VOTE:
        return
    if proposal.requested_by_type == ActorType.STAFF and proposal.requested_by_id == actor.id:
        raise Denied(
            ReasonCode.SELF_APPROVAL, studio_id=proposal.studio_id, proposal_id=proposal.pk
        )
    if bulk and proposal.risk >= Risk.HIGH:
        raise Denied(
            ReasonCode.BULK_NOT_ALLOWED,
            f"#{proposal.pk} is {proposal.get_risk_display()} risk: approve it on its own "
            "page, never in bulk.",
            studio_id=proposal.studio_id,
            proposal_id=proposal.pk,
        )


def decision_row(
    proposal: Proposal,
    actor: Actor,
    decision: Decision,
    rationale: str,
    withdrawn: Approval | None,
    now: datetime,
) -> Approval:
    """The approver's decision of this round, unsaved: a new row, or their withdrawn one
    decided again (one row per approver and round; the audit chain keeps every step)."""
    approval = withdrawn or Approval(
        proposal=proposal,
        studio_id=proposal.studio_id,
        approver=actor.user,
        decision_round=proposal.decision_round,
    )
    approval.proposal = proposal  # the locked row, so callers read its new status
    approval.decision = decision
    approval.rationale = rationale
    approval.input_hash = proposal.input_hash
    approval.created_at = now
    approval.withdrawn_at = None
    return approval


DECIDED_FIELDS = ["status", "approved_at", "decided_at", "updated_at"]


def apply_decision(proposal: Proposal, event: Event, granted: int, now: datetime) -> bool:
    """Move the proposal on after a grant (``granted``: distinct grants of the round, this
    one included) or a rejection; True when a grant reached the quorum. Unsaved."""
    if event == Event.REJECT:
        proposal.status = step(proposal, Event.REJECT)
        proposal.decided_at = now
        reached = False
    else:
        reached = granted >= proposal.approvals_required
        proposal.status = step(proposal, Event.APPROVE if reached else Event.VOTE)
        if reached:
            proposal.approved_at = now
            proposal.decided_at = now
    proposal.updated_at = now
    return reached


def decision_event(
    proposal: Proposal,
    actor: Actor,
    approval: Approval,
    *,
    granted: int = 0,
    bulk: bool = False,
) -> dict[str, Any]:
    """``audit_append``'s arguments for a grant or a rejection: the same for one and many."""
    grant = approval.decision == Decision.GRANTED
    metadata: dict[str, Any] = {
        "approval_id": approval.pk,
        "rationale": approval.rationale,
    }
    if grant:
        metadata |= {
            "granted": granted,
            "approvals_required": proposal.approvals_required,
            "round": proposal.decision_round,
            "quorum_reached": granted >= proposal.approvals_required,
        }
    else:
        metadata["round"] = proposal.decision_round
    if bulk:
        metadata["bulk"] = True
    return {
        "studio": proposal.studio_id,
        "actor": actor,
        "action": "approval.granted" if grant else "approval.rejected",
        "target_type": "proposal",
        "target_id": proposal.pk,
        "approval_state": proposal.status,
        "reason_code": ReasonCode.ALLOWED if grant else ReasonCode.PROPOSAL_REJECTED,
        "input_hash": approval.input_hash,
        "metadata": metadata,
    }


def _decide_one(proposal_id: int, actor: Actor, rationale: str, event: Event) -> Approval:
    proposal = lock_proposal(proposal_id)
    cleaned = require_rationale(rationale, studio_id=proposal.studio_id, proposal_id=proposal.pk)
    require_role(
        actor, studio_id=proposal.studio_id, minimum=Role.APPROVER, proposal_id=proposal.pk
    )
    mine = Approval.objects.filter(
        proposal=proposal, decision_round=proposal.decision_round, approver=actor.user
    ).first()
    now = timezone.now()
    check_decision(proposal, actor, mine, event, now=now)
    decision = Decision.GRANTED if event == Event.VOTE else Decision.REJECTED
    approval = decision_row(proposal, actor, decision, cleaned, mine, now)
    approval.save()
    granted = 0
    if event == Event.VOTE:
        granted = (
            Approval.objects.filter(
                proposal=proposal, decision_round=proposal.decision_round, decision=Decision.GRANTED
            )
            .values("approver")
            .distinct()
            .count()
        )
    apply_decision(proposal, event, granted, now)
    proposal.save(update_fields=DECIDED_FIELDS)
    audit_append(**decision_event(proposal, actor, approval, granted=granted))
    return approval


def approval_grant(*, proposal_id: int, actor: Actor, rationale: str) -> Approval:
    """Approve a pending proposal. The approval that reaches the quorum moves it to approved.

    Denies RATIONALE_REQUIRED, ACTOR_NOT_ALLOWED, TENANT_MISMATCH, ROLE_REQUIRED,
    ILLEGAL_TRANSITION, PROPOSAL_EXPIRED, ALREADY_DECIDED and SELF_APPROVAL. Many at once:
    ``governance.services.bulk_review``, with the same checks and events.
    """

    def body() -> Approval:
        return _decide_one(proposal_id, actor, rationale, Event.VOTE)

    return governed("approval.grant_denied", actor, body, target=PROPOSAL)


def approval_reject(*, proposal_id: int, actor: Actor, rationale: str) -> Approval:
    """Reject a pending proposal: one rejection ends the round (an admin may reopen it)."""

    def body() -> Approval:
        return _decide_one(proposal_id, actor, rationale, Event.REJECT)

    return governed("approval.reject_denied", actor, body, target=PROPOSAL)


def approval_withdraw(*, proposal_id: int, actor: Actor, rationale: str) -> Approval:
    """Take back your grant on a proposal that has not run (pending or approved).

    The grant stops counting; an approved proposal drops below its quorum and waits for
    approval again. Denies RATIONALE_REQUIRED, ACTOR_NOT_ALLOWED, TENANT_MISMATCH,
    ROLE_REQUIRED, ILLEGAL_TRANSITION (rejected, expired, executed, cancelled),
    EXECUTION_EXISTS (an execution is queued or running) and NOTHING_TO_WITHDRAW.
    """

    def body() -> Approval:
        proposal = lock_proposal(proposal_id)
        cleaned = require_rationale(
            rationale, studio_id=proposal.studio_id, proposal_id=proposal.pk
        )
        require_role(
            actor, studio_id=proposal.studio_id, minimum=Role.APPROVER, proposal_id=proposal.pk
        )
        status = step(proposal, Event.WITHDRAW)
        running = Execution.objects.filter(proposal=proposal).values_list("pk", "status").first()
        if running is not None:
            raise Denied(
                ReasonCode.EXECUTION_EXISTS,
                f"Execution {running[0]} of this proposal is already {running[1]}; an approval "
                "can be withdrawn only before the proposal runs.",
                studio_id=proposal.studio_id,
                proposal_id=proposal.pk,
            )
        approval = (
            Approval.objects.select_for_update()
            .filter(
                proposal=proposal,
                decision_round=proposal.decision_round,
                approver=actor.user,
                decision=Decision.GRANTED,
            )
            .first()
        )
        if approval is None:
            raise Denied(
                ReasonCode.NOTHING_TO_WITHDRAW,
                studio_id=proposal.studio_id,
                proposal_id=proposal.pk,
            )
        now = timezone.now()
        approval.decision = Decision.WITHDRAWN
        approval.withdrawn_at = now
        approval.save(update_fields=["decision", "withdrawn_at"])
        was_approved = proposal.status == ProposalStatus.APPROVED
        proposal.status = status
        proposal.approved_at = None
        if was_approved:
            proposal.decided_at = None
        proposal.updated_at = now
        proposal.save(update_fields=["status", "approved_at", "decided_at", "updated_at"])
        granted = Approval.objects.filter(
            proposal=proposal, decision_round=proposal.decision_round, decision=Decision.GRANTED
        ).count()
        audit_append(
            studio=proposal.studio_id,
            actor=actor,
            action="approval.withdrawn",
            target_type="proposal",
            target_id=proposal.pk,
            approval_state=proposal.status,
            reason_code=ReasonCode.ALLOWED,
            input_hash=approval.input_hash,
            metadata={
                "approval_id": approval.pk,
                "rationale": cleaned,
                "granted": granted,
                "approvals_required": proposal.approvals_required,
                "round": proposal.decision_round,
                "quorum_lost": was_approved,
            },
        )
        return approval

    return governed("approval.withdraw_denied", actor, body, target=PROPOSAL)
