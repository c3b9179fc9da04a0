"""Approval decisions: grant (counting towards the quorum) and reject.

An approval binds the approver, the decision round and the exact input hash they saw;
the execution gateway later refuses to run a proposal whose input no longer hashes to it.
"""

from __future__ import annotations

from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType, Decision
from governance.errors import Denied
from governance.models import Approval, Proposal
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


def _check_decider(proposal: Proposal, actor: Actor, rationale: str, event: Event) -> str:
    cleaned = require_rationale(rationale, studio_id=proposal.studio_id, proposal_id=proposal.pk)
    require_role(
        actor, studio_id=proposal.studio_id, minimum=Role.APPROVER, proposal_id=proposal.pk
    )
    step(proposal, event)  # the proposal must be awaiting a decision
    if proposal.expires_at is not None and proposal.expires_at <= timezone.now():
        raise Denied(
            ReasonCode.PROPOSAL_EXPIRED, studio_id=proposal.studio_id, proposal_id=proposal.pk
        )
    already = Approval.objects.filter(
        proposal=proposal, decision_round=proposal.decision_round, approver=actor.user
    ).exists()
    if already:
        raise Denied(
            ReasonCode.ALREADY_DECIDED, studio_id=proposal.studio_id, proposal_id=proposal.pk
        )
    return cleaned


def approval_grant(*, proposal_id: int, actor: Actor, rationale: str) -> Approval:
    """Approve a pending proposal. The approval that reaches the quorum moves it to approved.

    Denies RATIONALE_REQUIRED, ACTOR_NOT_ALLOWED, TENANT_MISMATCH, ROLE_REQUIRED,
    ILLEGAL_TRANSITION, PROPOSAL_EXPIRED, SELF_APPROVAL and ALREADY_DECIDED.
    """

    def body() -> Approval:
        proposal = lock_proposal(proposal_id)
        cleaned = _check_decider(proposal, actor, rationale, Event.VOTE)
        if proposal.requested_by_type == ActorType.STAFF and proposal.requested_by_id == actor.id:
            raise Denied(
                ReasonCode.SELF_APPROVAL, studio_id=proposal.studio_id, proposal_id=proposal.pk
            )
        now = timezone.now()
        approval = Approval.objects.create(
            proposal=proposal,
            studio_id=proposal.studio_id,
            approver=actor.user,
            decision=Decision.GRANTED,
            decision_round=proposal.decision_round,
            rationale=cleaned,
            input_hash=proposal.input_hash,
            created_at=now,
        )
        granted = (
            Approval.objects.filter(
                proposal=proposal, decision_round=proposal.decision_round, decision=Decision.GRANTED
            )
            .values("approver")
            .distinct()
            .count()
        )
        quorum_reached = granted >= proposal.approvals_required
        proposal.status = step(proposal, Event.APPROVE if quorum_reached else Event.VOTE)
        if quorum_reached:
            proposal.approved_at = now
            proposal.decided_at = now
        proposal.updated_at = now
        proposal.save(update_fields=["status", "approved_at", "decided_at", "updated_at"])
        audit_append(
            studio=proposal.studio_id,
            actor=actor,
            action="approval.granted",
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
                "quorum_reached": quorum_reached,
            },
        )
        return approval

    return governed("approval.grant_denied", actor, body, target=PROPOSAL)


def approval_reject(*, proposal_id: int, actor: Actor, rationale: str) -> Approval:
    """Reject a pending proposal: one rejection ends the round (an admin may reopen it)."""

    def body() -> Approval:
        proposal = lock_proposal(proposal_id)
        cleaned = _check_decider(proposal, actor, rationale, Event.REJECT)
        now = timezone.now()
        approval = Approval.objects.create(
            proposal=proposal,
            studio_id=proposal.studio_id,
            approver=actor.user,
            decision=Decision.REJECTED,
            decision_round=proposal.decision_round,
            rationale=cleaned,
            input_hash=proposal.input_hash,
            created_at=now,
        )
        proposal.status = step(proposal, Event.REJECT)
        proposal.decided_at = now
        proposal.updated_at = now
        proposal.save(update_fields=["status", "decided_at", "updated_at"])
        audit_append(
            studio=proposal.studio_id,
            actor=actor,
            action="approval.rejected",
            target_type="proposal",
            target_id=proposal.pk,
            approval_state=proposal.status,
            reason_code=ReasonCode.PROPOSAL_REJECTED,
            input_hash=approval.input_hash,
            metadata={
                "approval_id": approval.pk,
                "rationale": cleaned,
                "round": proposal.decision_round,
            },
        )
        return approval

    return governed("approval.reject_denied", actor, body, target=PROPOSAL)
