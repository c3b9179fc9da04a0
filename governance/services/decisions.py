"""Store a policy decision with its trace, and audit it, in one transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from brain.context import current_request_id
from governance.actors import Actor
from governance.audit import audit_append
from governance.errors import PendingDecision
from governance.models import DecisionKind, DecisionTrace, PolicyDecision
from governance.policies.decision import Decision


def decision_record(
    *,
    studio_id: int,
    kind: DecisionKind,
    actor: Actor,
    decision: Decision,
    capability_id: str = "",
    resource_owner_id: str = "",
    delegation_id: int | None = None,
    proposal_id: int | None = None,
    intake_review_id: int | None = None,
    audit_action: str = "",
    metadata: dict[str, Any] | None = None,
) -> PolicyDecision:
    """Write ``decision`` (allowed or denied) and each step of its trace, and append its
    audit event, all in the caller's transaction (or a new one).

    The audit action defaults to ``policy.<kind>.allowed|denied``.
    """
    with transaction.atomic():
        row = PolicyDecision.objects.create(
            studio_id=studio_id,
            kind=kind,
            actor_type=str(actor.type),
            actor_id=actor.id,
            capability_id=capability_id,
            resource_owner_id=resource_owner_id,
            allowed=decision.allowed,
            code=decision.code,
            message=decision.message,
            retry_after=decision.retry_after,
            delegation_id=delegation_id,
            proposal_id=proposal_id,
            intake_review_id=intake_review_id,
            request_id=current_request_id() or "",
            decided_at=timezone.now(),
        )
        DecisionTrace.objects.bulk_create(
            DecisionTrace(
                decision=row,
                position=position,
                check_name=step.check,
                input=step.input,
                passed=step.passed,
                explanation=step.explanation,
            )
            for position, step in enumerate(decision.trace, start=1)
        )
        audit_append(
            studio=studio_id,
            actor=actor,
            action=audit_action or f"policy.{kind}.{'allowed' if decision.allowed else 'denied'}",
            target_type="policy_decision",
            target_id=row.pk,
            reason_code=decision.code,
            metadata={
                "kind": str(kind),
                "capability": capability_id,
                "resource_owner": resource_owner_id,
                "delegation": delegation_id,
                "proposal": proposal_id,
                "intake_review": intake_review_id,
                "retry_after": decision.retry_after,
                "failed_check": next(
                    (step.check for step in decision.trace if step.passed is False), ""
                ),
                **(metadata or {}),
            },
        )
    return row


def decision_store(pending: PendingDecision) -> PolicyDecision:
    """Write a decision taken earlier (see ``decision_record``), in the caller's transaction."""
    return decision_record(
        studio_id=pending.studio_id,
        kind=DecisionKind(pending.kind),
        actor=pending.actor,
        decision=pending.decision,
        capability_id=pending.capability_id,
        resource_owner_id=pending.resource_owner_id,
        delegation_id=pending.delegation_id,
        proposal_id=pending.proposal_id,
        audit_action=pending.audit_action,
        metadata=pending.metadata,
    )
