"""Proposal writes: submit (or draft), submit a draft, reopen, cancel, expire.

Every service takes keyword-only arguments and a required ``actor``, runs in one
transaction, locks the proposal it changes, checks the step against the transition table
and writes its audit event in that same transaction. A denial rolls the attempt back and
is then audited on its own (``governance.services.common.governed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from brain.models import Role, Studio
from connectors.runtime import build_connector
from connectors.sdk.canonical import canonical_hash, contains_nul
from connectors.sdk.errors import ConfigurationError, ConnectorError
from governance.actors import Actor
from governance.audit import audit_append
from governance.capabilities import (
    CapabilityInput,
    CapabilitySpec,
    CapabilityUnknown,
    capability_spec,
)
from governance.enums import ActorType, ProposalStatus
from governance.errors import Denied
from governance.models import Execution, Proposal
from governance.reasons import ReasonCode
from governance.services.common import (
    PROPOSAL,
    governed,
    lock_proposal,
    require_rationale,
    require_role,
    step,
)
from governance.services.notifications import notify_proposal_submitted
from governance.targets import target_problems
from governance.transitions import Event
from governance.write_paths import PREVIEW_KEY, WritePathUnavailable, has_write_path, write_plan


def validate_input(
    spec: CapabilitySpec, raw: Mapping[str, Any], *, studio_id: int
) -> dict[str, Any]:
    """``raw`` through the capability's schema: the normalised input, or INPUT_INVALID per field."""
    try:
        parsed = spec.input_model.model_validate(dict(raw))
    except ValidationError as error:
        field_errors: dict[str, list[str]] = {}
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or "input"
            field_errors.setdefault(name, []).append(problem["msg"])
        summary = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in field_errors.items())
        raise Denied(
            ReasonCode.INPUT_INVALID,
            f"Input rejected by {spec.id}: {summary}.",
            studio_id=studio_id,
            field_errors=field_errors,
        ) from None
    normalised = parsed.model_dump(mode="json")
    if contains_nul(normalised):
        # Postgres cannot store NUL in text or jsonb; refuse it as bad input, never a 500.
        raise Denied(
            ReasonCode.INPUT_INVALID,
            f"Input rejected by {spec.id}: text may not contain NUL characters.",
            studio_id=studio_id,
            field_errors={"input": ["Text may not contain NUL characters."]},
        )
    return normalised


def require_targets(spec: CapabilitySpec, parsed: CapabilityInput, *, studio_id: int) -> None:
    """Deny TARGET_NOT_FOUND when the input names what the studio's mirror does not hold."""
    problems = target_problems(spec.id, parsed, studio_id=studio_id)
    if problems:
        summary = " ".join(problems.values())
        raise Denied(
            ReasonCode.TARGET_NOT_FOUND,
            f"{spec.id} refused: {summary}",
            studio_id=studio_id,
            field_errors={name: [message] for name, message in problems.items()},
        )


def _submit_allowed(actor: Actor, studio_id: int) -> None:
    # Staff propose from the operator role up; agents and system jobs propose under their own
    # identity (delegation scopes are checked at execution by the policy layer).
    if actor.type == ActorType.STAFF:
        require_role(actor, studio_id=studio_id, minimum=Role.OPERATOR)


def proposal_submit(
    *,
    studio: Studio,
    capability_id: str,
    input: Mapping[str, Any],
    rationale: str,
    actor: Actor,
    based_on_snapshot: str = "",
    draft: bool = False,
) -> Proposal:
    """Create a proposal for ``capability_id`` and queue it for approval (or keep it a draft).

    Denies CAPABILITY_UNKNOWN, RATIONALE_REQUIRED, INPUT_INVALID, TARGET_NOT_FOUND (the input
    names an order or flag the studio's mirror does not hold), TENANT_MISMATCH, ROLE_REQUIRED.
    The stored input is the schema's normalised form and ``input_hash`` its canonical hash.
    """
    denial_metadata = {"capability": capability_id}

    def body() -> Proposal:
        try:
            spec = capability_spec(capability_id)
        except CapabilityUnknown:
            raise Denied(
                ReasonCode.CAPABILITY_UNKNOWN,
                f"There is no capability {capability_id!r}.",
                studio_id=studio.pk,
            ) from None
        cleaned_rationale = require_rationale(rationale, studio_id=studio.pk)
        _submit_allowed(actor, studio.pk)
        normalised = validate_input(spec, input, studio_id=studio.pk)
        parsed = spec.input_model.model_validate(normalised)
        require_targets(spec, parsed, studio_id=studio.pk)
        now = timezone.now()
        proposal = Proposal.objects.create(
            studio=studio,
            capability_id=spec.id,
            status=ProposalStatus.DRAFT,
            risk=spec.risk,
            approvals_required=spec.approvals_required,
            input=normalised,
            input_hash=canonical_hash(normalised),
            rationale=cleaned_rationale,
            summary=parsed.summary()[:300],
            expected_effects=parsed.expected_effects(),
            based_on_snapshot=based_on_snapshot,
            requested_by_type=actor.type,
            requested_by_id=actor.id,
            requested_by_user=actor.user if actor.type == ActorType.STAFF else None,
            created_at=now,
            updated_at=now,
        )
        proposal.dry_run = proposal_dry_run(proposal)
        if proposal.dry_run:
            proposal.save(update_fields=["dry_run"])
        if draft:
            _audit(proposal, actor, "proposal.drafted")
            return proposal
        return _submit(proposal, actor, now)

    return governed(
        "proposal.submit_denied", actor, body, target=PROPOSAL, metadata=denial_metadata
    )


def proposal_dry_run(proposal: Proposal) -> dict[str, Any]:
    """What the connector says the write would do, for the approvers (``{}``: no write path).

    Reads only, with one attempt and no retries so a slow device never holds up a proposal.
    A failure is kept as the dry run's result: it never blocks the submission.
    """
    if not has_write_path(proposal.capability_id):
        return {}
    try:
        plan = write_plan(proposal)
    except WritePathUnavailable as problem:
        return {"ok": False, "problem": str(problem)}
    result: dict[str, Any] = {
        "connector": plan.connector.name,
        "kind": plan.connector.kind,
        "operation": plan.operation,
        "target": plan.target,
        "blockers": plan.blockers(),
        "read_at": timezone.now().isoformat(),
    }
    try:
        connector = build_connector(plan.connector, overrides={"retry_attempts": 1})
    except ConfigurationError as error:
        return {**result, "ok": False, "problem": f"connector configuration: {error}"}
    try:
        preview = connector.preview(plan.intent(PREVIEW_KEY))
    except ConnectorError as error:
        return {**result, "ok": False, "problem": f"{error.code}: {error.message}"}
    finally:
        connector.close()
    return {
        **result,
        "ok": True,
        "current": preview.current,
        "expected": preview.expected,
        "documents": preview.documents,
        "notes": preview.notes,
    }


def _submit(proposal: Proposal, actor: Actor, now: datetime) -> Proposal:
    proposal.status = step(proposal, Event.SUBMIT)
    proposal.submitted_at = now
    proposal.expires_at = now + settings.BRAIN.proposal_ttl
    proposal.updated_at = now
    proposal.save(update_fields=["status", "submitted_at", "expires_at", "updated_at"])
    _audit(proposal, actor, "proposal.submitted")
    notify_proposal_submitted(proposal)
    return proposal


def proposal_draft_submit(*, proposal_id: int, actor: Actor) -> Proposal:
    """Send a draft to the approval queue (draft → pending approval)."""

    def body() -> Proposal:
        proposal = lock_proposal(proposal_id)
        _submit_allowed(actor, proposal.studio_id)
        return _submit(proposal, actor, timezone.now())

    return governed("proposal.submit_denied", actor, body, target=PROPOSAL)


def proposal_reopen(*, proposal_id: int, actor: Actor, reason: str) -> Proposal:
    """An admin sends a rejected proposal back for a new decision round (rejected → pending)."""

    def body() -> Proposal:
        proposal = lock_proposal(proposal_id)
        cleaned = require_rationale(reason, studio_id=proposal.studio_id, proposal_id=proposal.pk)
        require_role(
            actor, studio_id=proposal.studio_id, minimum=Role.ADMIN, proposal_id=proposal.pk
        )
        now = timezone.now()
        proposal.status = step(proposal, Event.REOPEN)
        proposal.decision_round += 1
        proposal.expires_at = now + settings.BRAIN.proposal_ttl
        proposal.approved_at = None
        proposal.decided_at = None
        proposal.updated_at = now
        proposal.save(
            update_fields=[
                "status",
                "decision_round",
                "expires_at",
                "approved_at",
                "decided_at",
                "updated_at",
            ]
        )
        _audit(
            proposal,
            actor,
            "proposal.reopened",
            metadata={"reason": cleaned, "round": proposal.decision_round},
        )
        return proposal

    return governed("proposal.reopen_denied", actor, body, target=PROPOSAL)


def proposal_cancel(*, proposal_id: int, actor: Actor, reason: str) -> Proposal:
    """The staff member who submitted a proposal withdraws it before it runs (draft, pending
    or approved → cancelled, for good).

    Denies RATIONALE_REQUIRED, ACTOR_NOT_ALLOWED, TENANT_MISMATCH, NOT_REQUESTER,
    ILLEGAL_TRANSITION and EXECUTION_EXISTS (an execution is queued or running).
    """

    def body() -> Proposal:
        proposal = lock_proposal(proposal_id)
        cleaned = require_rationale(reason, studio_id=proposal.studio_id, proposal_id=proposal.pk)
        require_role(
            actor, studio_id=proposal.studio_id, minimum=Role.VIEWER, proposal_id=proposal.pk
        )
        if proposal.requested_by_type != ActorType.STAFF or proposal.requested_by_id != actor.id:
            raise Denied(
                ReasonCode.NOT_REQUESTER, studio_id=proposal.studio_id, proposal_id=proposal.pk
            )
        status = step(proposal, Event.CANCEL)
        running = Execution.objects.filter(proposal=proposal).values_list("pk", "status").first()
        if running is not None:
            raise Denied(
                ReasonCode.EXECUTION_EXISTS,
                f"Execution {running[0]} of this proposal is already {running[1]}; a proposal "
                "can be cancelled only before it runs.",
                studio_id=proposal.studio_id,
                proposal_id=proposal.pk,
            )
        previous = proposal.status
        now = timezone.now()
        proposal.status = status
        proposal.decided_at = now
        proposal.updated_at = now
        proposal.save(update_fields=["status", "decided_at", "updated_at"])
        _audit(
            proposal,
            actor,
            "proposal.cancelled",
            metadata={"reason": cleaned, "was": previous, "round": proposal.decision_round},
        )
        return proposal

    return governed("proposal.cancel_denied", actor, body, target=PROPOSAL)


def proposal_expire_due(*, actor: Actor, now: datetime | None = None) -> list[int]:
    """Expire pending proposals past their TTL and approved ones past the approval window.

    One short transaction per proposal (rows another transaction holds are skipped and
    picked up next run), so a long queue never holds many locks. Returns the expired ids.
    """
    now = now or timezone.now()
    window_start = now - settings.BRAIN.approval_window
    due_pending = Proposal.objects.filter(
        status=ProposalStatus.PENDING_APPROVAL, expires_at__lte=now
    )
    # An approved proposal that is being executed is settled by its execution, never expired.
    due_approved = Proposal.objects.filter(
        status=ProposalStatus.APPROVED, approved_at__lte=window_start, executions__isnull=True
    )
    candidates = list(due_pending.values_list("pk", flat=True)) + list(
        due_approved.values_list("pk", flat=True)
    )
    expired: list[int] = []
    for proposal_id in sorted(candidates):
        with transaction.atomic():
            proposal = (
                Proposal.objects.select_for_update(skip_locked=True).filter(pk=proposal_id).first()
            )
            if proposal is None:
                continue
            if (
                proposal.status == ProposalStatus.PENDING_APPROVAL
                and proposal.expires_at
                and proposal.expires_at <= now
            ):
                code = ReasonCode.PROPOSAL_EXPIRED
            elif (
                proposal.status == ProposalStatus.APPROVED
                and proposal.approved_at
                and proposal.approved_at <= window_start
                and not Execution.objects.filter(proposal=proposal).exists()
            ):
                code = ReasonCode.APPROVAL_EXPIRED
            else:
                continue  # decided since the candidates were read
            proposal.status = step(proposal, Event.EXPIRE)
            proposal.decided_at = proposal.decided_at or now
            proposal.updated_at = now
            proposal.save(update_fields=["status", "decided_at", "updated_at"])
            _audit(proposal, actor, "proposal.expired", reason_code=code)
            expired.append(proposal.pk)
    return expired


def _audit(
    proposal: Proposal,
    actor: Actor,
    action: str,
    *,
    reason_code: str = "",
    metadata: dict[str, Any] | None = None,
) -> None:
    audit_append(
        studio=proposal.studio_id,
        actor=actor,
        action=action,
        target_type="proposal",
        target_id=proposal.pk,
        approval_state=proposal.status,
        reason_code=reason_code or ReasonCode.ALLOWED,
        input_hash=proposal.input_hash,
        metadata={
            "capability": proposal.capability_id,
            "risk": proposal.get_risk_display(),
            "approvals_required": proposal.approvals_required,
            **(metadata or {}),
        },
    )
