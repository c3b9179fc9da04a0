"""What every governance service shares: locking a proposal, checking a role, auditing a denial."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

from brain.models import Membership, Role
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType
from governance.errors import Denied, ProposalNotFound
from governance.models import Proposal
from governance.reasons import ReasonCode
from governance.transitions import Event, IllegalTransition, next_status

MIN_RATIONALE = 10


def require_rationale(text: str, *, studio_id: int | None, proposal_id: int | None = None) -> str:
    cleaned = (text or "").strip()
    if "\x00" in cleaned:
        raise Denied(
            ReasonCode.RATIONALE_REQUIRED,
            "A rationale may not contain NUL characters.",
            studio_id=studio_id,
            proposal_id=proposal_id,
            field_errors={"rationale": ["Text may not contain NUL characters."]},
        )
    if len(cleaned) < MIN_RATIONALE:
        raise Denied(
            ReasonCode.RATIONALE_REQUIRED,
            f"A rationale of at least {MIN_RATIONALE} characters is required (got {len(cleaned)}).",
            studio_id=studio_id,
            proposal_id=proposal_id,
            field_errors={"rationale": [f"At least {MIN_RATIONALE} characters."]},
        )
    return cleaned


def require_role(
    actor: Actor, *, studio_id: int, minimum: Role, proposal_id: int | None = None
) -> Membership:
    """The staff actor's membership of the studio, with at least ``minimum``; else a denial."""
    if actor.type != ActorType.STAFF or actor.user is None:
        raise Denied(ReasonCode.ACTOR_NOT_ALLOWED, studio_id=studio_id, proposal_id=proposal_id)
    membership = Membership.objects.filter(user=actor.user, studio_id=studio_id).first()
    if membership is None:
        raise Denied(
            ReasonCode.TENANT_MISMATCH,
            "You are not a member of this proposal's studio.",
            studio_id=studio_id,
            proposal_id=proposal_id,
        )
    if not membership.has_role(minimum):
        raise Denied(
            ReasonCode.ROLE_REQUIRED,
            f"This needs the {minimum.label} role in this studio.",
            studio_id=studio_id,
            proposal_id=proposal_id,
        )
    return membership


def lock_proposal(proposal_id: int) -> Proposal:
    """The proposal row, locked until the transaction ends."""
    proposal = Proposal.objects.select_for_update().filter(pk=proposal_id).first()
    if proposal is None:
        raise ProposalNotFound(proposal_id)
    return proposal


def step(proposal: Proposal, event: Event) -> str:
    """The next status from the transition table, or a denial naming the illegal step."""
    try:
        return next_status(proposal.status, event)
    except IllegalTransition as error:
        raise Denied(
            ReasonCode.ILLEGAL_TRANSITION,
            f"Not allowed: {error}.",
            studio_id=proposal.studio_id,
            proposal_id=proposal.pk,
            detail={"status": proposal.status, "event": str(event)},
        ) from None


def audit_denial(
    denial: Denied, *, actor: Actor, action: str, metadata: dict[str, Any] | None = None
) -> None:
    """Record a denial in its own transaction: the attempted change has already rolled back."""
    with transaction.atomic():
        audit_append(
            studio=denial.studio_id,
            actor=actor,
            action=action,
            target_type="proposal",
            target_id=denial.proposal_id or "",
            reason_code=denial.code,
            metadata={"message": denial.message, **denial.detail, **(metadata or {})},
        )


@contextmanager
def denials_audited(
    *, actor: Actor, action: str, metadata: dict[str, Any] | None = None
) -> Iterator[None]:
    """Run a service body; on ``Denied``, audit it as ``action`` (after the rollback) and re-raise.

    Illegal transitions are always audited as ``proposal.transition_denied`` whatever the service.
    """
    try:
        yield
    except Denied as denial:
        audit_action = (
            "proposal.transition_denied" if denial.code == ReasonCode.ILLEGAL_TRANSITION else action
        )
        audit_denial(denial, actor=actor, action=audit_action, metadata=metadata)
        raise


def governed[T](
    action: str, actor: Actor, body: Callable[[], T], metadata: dict[str, Any] | None = None
) -> T:
    """``body()`` in one transaction; a denial rolls it back and is then audited on its own."""
    with denials_audited(actor=actor, action=action, metadata=metadata), transaction.atomic():
        return body()
