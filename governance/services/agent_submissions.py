"""An agent submits a proposal through the API: every check, one decision, one trace.

In order: a repeated Idempotency-Key returns the first result; the endpoint rate limit;
the capability is known; the agent's delegation covers the capability for the owner of
the resources (the confused-deputy guard); the intake policy; then ``proposal_submit``
with the agent as the actor. The checks' steps form one stored decision (kind
``submission``) whose trace the agent and staff can read; a denial names the check that
failed. Nothing half-written: the proposal, its decision and the idempotency key commit
together, and a denial commits only its own record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.sdk.canonical import CanonicalError, canonical_hash
from governance.capabilities import CAPABILITIES
from governance.errors import Denied
from governance.identity import ResolvedActor
from governance.models import AgentRequestKey, DecisionKind, PolicyDecision, Proposal
from governance.policies.decision import ALLOWED, Decision, TraceStep
from governance.policies.intake import intake_evaluate, load_policy, submission_texts
from governance.ratelimit import Endpoint
from governance.reasons import ReasonCode
from governance.services.decisions import decision_record
from governance.services.delegations import delegation_pending
from governance.services.intake import intake_review_open
from governance.services.proposals import proposal_submit
from governance.services.ratelimits import endpoint_limit_hit


class SubmissionDenied(Denied):
    """A denied submission, with what the API answers besides the code: the stored decision,
    the intake review (when blocked) and Retry-After (when rate limited)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        studio_id: int,
        decision_id: int | None = None,
        intake_id: int | None = None,
        retry_after: int | None = None,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(
            ReasonCode(code),
            message,
            studio_id=studio_id,
            field_errors=field_errors,
            detail={
                "decision_id": decision_id,
                "intake_id": intake_id,
                "retry_after": retry_after,
            },
        )
        self.decision_id = decision_id
        self.intake_id = intake_id
        self.retry_after = retry_after


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different request."""


@dataclass(frozen=True)
class Submission:
    proposal: Proposal
    decision_id: int | None
    replayed: bool


def _request_hash(payload: dict[str, Any]) -> str:
    try:
        return canonical_hash(payload)
    except CanonicalError as error:  # e.g. a NaN that slipped through the parser
        raise Denied(
            ReasonCode.INPUT_INVALID, f"The request has no canonical form: {error}."
        ) from None


def _replay(actor: ResolvedActor, key: str, request_hash: str) -> Submission | None:
    found = (
        AgentRequestKey.objects.filter(studio=actor.studio, agent_id=actor.actor_id, key=key)
        .select_related("proposal")
        .first()
    )
    if found is None:
        return None
    if found.request_hash != request_hash:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was used for a different request "
            f"(proposal #{found.proposal_id})."
        )
    return Submission(proposal=found.proposal, decision_id=None, replayed=True)


def agent_proposal_submit(
    *,
    actor: ResolvedActor,
    capability_id: str,
    input: dict[str, Any],
    rationale: str,
    on_behalf_of: str | None = None,
    based_on_snapshot: str = "",
    delegation_id: int | None = None,
    idempotency_key: str | None = None,
) -> Submission:
    """Run the agent's submission through every check and submit it. Raises
    ``SubmissionDenied`` (with the stored decision's id) or ``IdempotencyConflict``."""
    studio = actor.studio
    owner = on_behalf_of or actor.owner
    payload = {
        "capability": capability_id,
        "input": input,
        "rationale": rationale,
        "on_behalf_of": owner,
        "based_on_snapshot": based_on_snapshot,
        "delegation_id": delegation_id,
    }
    request_hash = _request_hash(payload)
    if idempotency_key:
        replayed = _replay(actor, idempotency_key, request_hash)
        if replayed is not None:
            return replayed

    agent = actor.as_actor()
    limited = endpoint_limit_hit(
        studio_id=studio.pk, endpoint=Endpoint.PROPOSAL_CREATE, actor=agent
    )
    if not limited.allowed:  # already stored and audited by the limiter
        raise SubmissionDenied(
            limited.code,
            limited.message,
            studio_id=studio.pk,
            decision_id=limited.detail.get("decision_id"),
            retry_after=limited.retry_after,
        )
    decision = limited
    known = capability_id in CAPABILITIES
    decision = decision.then(
        Decision(
            allowed=known,
            code=ALLOWED if known else ReasonCode.CAPABILITY_UNKNOWN,
            message="" if known else f"There is no capability {capability_id!r}.",
            trace=(
                TraceStep(
                    "capability_known",
                    {"capability": capability_id},
                    known,
                    f"{capability_id} is in the capability registry."
                    if known
                    else f"{capability_id!r} is not in the capability registry.",
                ),
            ),
        )
    )
    if known:
        decision = decision.then(
            delegation_pending(
                actor=actor,
                capability_id=capability_id,
                resource_owner_id=owner,
                delegation_id=delegation_id,
            ).decision
        )
    verdict = None
    if decision.allowed:
        verdict = intake_evaluate(load_policy(), submission_texts(rationale, input))
        decision = decision.then(verdict)

    if not decision.allowed:
        with transaction.atomic():
            review = None
            if verdict is not None and not verdict.allowed:
                review = intake_review_open(
                    studio=studio,
                    agent_id=actor.actor_id,
                    owner_id=owner,
                    capability_id=capability_id,
                    submission=payload,
                    verdict=verdict,
                    actor=agent,
                )
            row = _record(
                actor,
                decision,
                capability_id,
                owner,
                intake_review_id=review.pk if review else None,
            )
        raise SubmissionDenied(
            decision.code,
            decision.message,
            studio_id=studio.pk,
            decision_id=row.pk,
            intake_id=review.pk if review else None,
        )
    return _submit(actor, decision, payload, request_hash, idempotency_key)


def _record(
    actor: ResolvedActor,
    decision: Decision,
    capability_id: str,
    owner: str,
    *,
    proposal_id: int | None = None,
    intake_review_id: int | None = None,
) -> PolicyDecision:
    return decision_record(
        studio_id=actor.studio.pk,
        kind=DecisionKind.SUBMISSION,
        actor=actor.as_actor(),
        decision=decision,
        capability_id=capability_id,
        resource_owner_id=owner,
        delegation_id=decision.detail.get("delegation_id"),
        proposal_id=proposal_id,
        intake_review_id=intake_review_id,
    )


def _submit(
    actor: ResolvedActor,
    decision: Decision,
    payload: dict[str, Any],
    request_hash: str,
    idempotency_key: str | None,
) -> Submission:
    capability_id, owner = payload["capability"], payload["on_behalf_of"]
    try:
        with transaction.atomic():
            try:
                proposal = proposal_submit(
                    studio=actor.studio,
                    capability_id=capability_id,
                    input=payload["input"],
                    rationale=payload["rationale"],
                    actor=actor.as_actor(),
                    based_on_snapshot=payload["based_on_snapshot"],
                )
            except Denied as denial:
                # proposal_submit rolled its attempt back and audited the denial; the
                # submission's decision records which check refused it, and both commit.
                refused = decision.then(
                    Decision(
                        allowed=False,
                        code=denial.code,
                        message=denial.message,
                        trace=(
                            TraceStep(
                                "proposal_accepted",
                                {"field_errors": denial.field_errors},
                                False,
                                f"The proposal service refused it: {denial.message}",
                            ),
                        ),
                    )
                )
                row = _record(actor, refused, capability_id, owner)
                failure = SubmissionDenied(
                    denial.code,
                    denial.message,
                    studio_id=actor.studio.pk,
                    decision_id=row.pk,
                    field_errors=denial.field_errors,
                )
            else:
                accepted = decision.then(
                    Decision(
                        allowed=True,
                        code=ALLOWED,
                        message=f"Proposal #{proposal.pk} submitted for approval.",
                        trace=(
                            TraceStep(
                                "proposal_accepted",
                                {"proposal": proposal.pk, "input_hash": proposal.input_hash},
                                True,
                                f"Proposal #{proposal.pk} was created and waits for "
                                f"{proposal.approvals_required} approval(s).",
                            ),
                        ),
                    )
                )
                row = _record(actor, accepted, capability_id, owner, proposal_id=proposal.pk)
                if idempotency_key:
                    AgentRequestKey.objects.create(
                        studio=actor.studio,
                        agent_id=actor.actor_id,
                        key=idempotency_key,
                        request_hash=request_hash,
                        proposal=proposal,
                        created_at=timezone.now(),
                    )
                return Submission(proposal=proposal, decision_id=row.pk, replayed=False)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key committed first: this one's
        # proposal rolled back whole, and the first one's answer is the answer.
        replayed = _replay(actor, idempotency_key or "", request_hash) if idempotency_key else None
        if replayed is None:
            raise
        return replayed
    raise failure
