"""The intake review queue: blocked agent submissions and staff overrides.

A staff override names a reason code from the intake policy — ``staff_override_*`` lets
the submission through (it becomes the proposal the agent asked for, still needing its
approvals), ``policy_*`` keeps it blocked — and a rationale of at least 10 characters.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from brain.models import Role, Studio
from governance.actors import Actor
from governance.audit import audit_append
from governance.errors import Denied
from governance.models import IntakeReview, IntakeStatus, Proposal
from governance.policies.decision import Decision
from governance.policies.intake import load_policy, reason_kind
from governance.ratelimit import Endpoint
from governance.reasons import ReasonCode
from governance.services.common import Target, governed, require_rationale, require_role
from governance.services.proposals import proposal_submit
from governance.services.ratelimits import endpoint_limit_hit


def intake_review_open(
    *,
    studio: Studio,
    agent_id: str,
    owner_id: str,
    capability_id: str,
    submission: dict[str, Any],
    verdict: Decision,
    actor: Actor,
) -> IntakeReview:
    """Put a blocked submission in the review queue and audit ``intake.blocked``.

    Runs inside the caller's transaction (the submission service's).
    """
    review = IntakeReview.objects.create(
        studio=studio,
        agent_id=agent_id,
        owner_id=owner_id,
        capability_id=capability_id,
        submission=submission,
        policy_version=verdict.detail["policy_version"],
        categories=verdict.detail["categories"],
        matches=verdict.detail["matches"],
        created_at=timezone.now(),
    )
    audit_append(
        studio=studio,
        actor=actor,
        action="intake.blocked",
        target_type="intake_review",
        target_id=review.pk,
        reason_code=ReasonCode.BLOCKED_BY_INTAKE_POLICY,
        metadata={
            "capability": capability_id,
            "owner": owner_id,
            "policy_version": review.policy_version,
            "categories": review.categories,
            "rules": [match["rule"] for match in review.matches],
        },
    )
    return review


def intake_override(
    *, studio: Studio, review_id: int, actor: Actor, reason_code: str, rationale: str
) -> IntakeReview:
    """Decide a pending review: grant (``staff_override_*``: the proposal is created as the
    agent submitted it) or deny (``policy_*``: it stays blocked). Approver role or above;
    at most BRAIN_RATE_LIMIT_INTAKE_OVERRIDE decisions per minute per staff member.

    Denies RATIONALE_REQUIRED, INTAKE_REASON_INVALID, ROLE_REQUIRED, RATE_LIMITED,
    RATE_LIMIT_UNAVAILABLE, ILLEGAL_TRANSITION (already decided) and whatever the proposal
    submission denies.
    """

    # Counted first and on its own: a denial here is stored and audited
    # (rate_limit_triggered) even though the override itself then rolls back.
    limited = endpoint_limit_hit(
        studio_id=studio.pk, endpoint=Endpoint.INTAKE_OVERRIDE, actor=actor
    )

    def body() -> IntakeReview:
        cleaned = require_rationale(rationale, studio_id=studio.pk)
        require_role(actor, studio_id=studio.pk, minimum=Role.APPROVER)
        policy = load_policy()
        kind = reason_kind(policy, reason_code)
        if kind is None:
            raise Denied(
                ReasonCode.INTAKE_REASON_INVALID,
                studio_id=studio.pk,
                field_errors={"reason_code": ["Choose a reason from the intake policy."]},
            )
        review = (
            IntakeReview.objects.select_for_update().filter(studio=studio, pk=review_id).first()
        )
        if review is None:
            raise Denied(
                ReasonCode.TENANT_MISMATCH,
                f"There is no intake review #{review_id} in this studio.",
                studio_id=studio.pk,
            )
        if review.status != IntakeStatus.PENDING:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"Intake review #{review.pk} was decided already ({review.get_status_display()}).",
                studio_id=studio.pk,
                detail={"target_id": review.pk},
            )
        if not limited.allowed:
            raise Denied(
                ReasonCode(limited.code),
                limited.message,
                studio_id=studio.pk,
                detail={"target_id": review.pk, "retry_after": limited.retry_after},
            )
        proposal: Proposal | None = None
        if kind == "grant":
            submitted = review.submission
            proposal = proposal_submit(
                studio=studio,
                capability_id=review.capability_id,
                input=submitted.get("input") or {},
                rationale=str(submitted.get("rationale", "")),
                actor=Actor.agent(review.agent_id),
                based_on_snapshot=str(submitted.get("based_on_snapshot", "")),
            )
        now = timezone.now()
        review.status = IntakeStatus.GRANTED if kind == "grant" else IntakeStatus.DENIED
        review.decided_at = now
        review.decided_by = actor.user
        review.reason_code = reason_code
        review.rationale = cleaned
        review.proposal = proposal
        review.save(
            update_fields=[
                "status",
                "decided_at",
                "decided_by",
                "reason_code",
                "rationale",
                "proposal",
            ]
        )
        audit_append(
            studio=studio,
            actor=actor,
            action=f"intake.override_{'granted' if kind == 'grant' else 'denied'}",
            target_type="intake_review",
            target_id=review.pk,
            reason_code=reason_code,
            metadata={
                "rationale": cleaned,
                "agent": review.agent_id,
                "capability": review.capability_id,
                "categories": review.categories,
                "proposal": proposal.pk if proposal else None,
                "policy_version": review.policy_version,
            },
        )
        return review

    return governed(
        "intake.override_refused",
        actor,
        body,
        metadata={"reason_code": reason_code},
        target=Target("intake_review", review_id),
    )
