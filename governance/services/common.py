"""What every governance service shares: locking a proposal, checking a role, ``governed``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from brain.models import Membership, Role
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType
from governance.errors import Denied, ProposalNotFound
from governance.models import Proposal
from governance.reasons import ReasonCode
from governance.services.decisions import decision_store
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


@dataclass(frozen=True)
class Target:
    """What a denial's audit event names: ``type`` and ``id``, and the chain to write it in
    (``studio_id``) when the denial itself names no studio."""

    type: str
    id: str | int = ""
    studio_id: int | None = None


# A proposal's services: the denial's ``proposal_id`` names the proposal (none yet: "").
PROPOSAL = Target("proposal")


def governed[T](
    action: str,
    actor: Actor,
    body: Callable[[], T],
    *,
    target: Target,
    metadata: dict[str, Any] | None = None,
) -> T:
    """``body()`` in one transaction; a ``Denied`` rolls it back and is then audited on its own.

    After the rollback, in a transaction of its own: the policy decision the denial carries
    (``Denied.decision``) is stored with its trace and its id put in ``detail["decision_id"]``,
    then the denial is appended to its studio's chain (else ``target.studio_id``'s) as
    ``action`` with its reason code, naming ``target`` (a denial may name its own target id
    in ``detail["target_id"]``; a proposal's is the denial's ``proposal_id``). The metadata
    is the message, the denial's detail and ``metadata`` — read at that moment, so a body
    may fill it in as it learns. The denial is then raised again. An illegal proposal
    transition is audited as ``proposal.transition_denied`` whatever the service.
    """
    try:
        with transaction.atomic():
            return body()
    except Denied as denial:
        with transaction.atomic():
            _audit_denial(denial, action=action, actor=actor, target=target, metadata=metadata)
        raise


def audit_denial(
    denial: Denied,
    *,
    action: str,
    actor: Actor,
    target: Target,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Audit a denial exactly as ``governed`` does, in the caller's transaction: for a
    service that checked many items and wrote nothing for the one it refuses (bulk review)."""
    _audit_denial(denial, action=action, actor=actor, target=target, metadata=metadata)


def _audit_denial(
    denial: Denied,
    *,
    action: str,
    actor: Actor,
    target: Target,
    metadata: dict[str, Any] | None,
) -> None:
    if denial.decision is not None:
        denial.detail["decision_id"] = decision_store(denial.decision).pk
    if denial.code == ReasonCode.ILLEGAL_TRANSITION and target.type == PROPOSAL.type:
        action = "proposal.transition_denied"
    detail = dict(denial.detail)
    target_id = detail.pop("target_id", denial.proposal_id or target.id)
    audit_append(
        studio=denial.studio_id if denial.studio_id is not None else target.studio_id,
        actor=actor,
        action=action,
        target_type=target.type,
        target_id=target_id,
        reason_code=denial.code,
        metadata={"message": denial.message, **detail, **(metadata or {})},
    )
