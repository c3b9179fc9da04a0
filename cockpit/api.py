"""The agent API, ``/api/v1/`` (django-ninja; OpenAPI 3 at ``/api/v1/openapi.json``).

Agents authenticate with a bearer token (``sbk_<prefix>_<secret>``) that resolves to one
agent of one studio; everything they read or write is scoped to that studio (another
studio's proposal is a 404, like a missing one). Every error is JSON
``{code, message, request_id}`` with the HTTP status that fits: 400 malformed body, 401
bad token, 403 policy denial (with the stored decision's id), 404, 409 Idempotency-Key
reuse, 422 invalid input, 429 over a rate limit (with Retry-After), 503 when the rate
limiter's store is unreachable. Bad input never becomes a 500.

``POST /proposals/{id}/execute`` goes through the execution gateway (the agent's
delegation from the resource owner is decided there and again right before the write);
``POST /kill-switch`` engages a switch at once (agents can stop things, never restart them).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal

from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, Header, NinjaAPI, Path, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.responses import Status
from ninja.security import HttpBearer
from pydantic import ConfigDict, model_validator

from brain.context import current_request_id
from connectors.models import ConnectorConfig
from connectors.sdk.canonical import contains_nul
from governance.capabilities import REGISTRY
from governance.errors import Denied
from governance.identity import ResolvedActor
from governance.models import Execution, IntakeReview, PolicyDecision, Proposal
from governance.ratelimit import Endpoint
from governance.reasons import ReasonCode
from governance.schemas import ProposalOut
from governance.selectors.policy import decision_get, intake_get, proposal_decisions
from governance.selectors.proposals import proposal_get
from governance.services.agent_submissions import (
    IdempotencyConflict,
    SubmissionDenied,
    agent_proposal_submit,
)
from governance.services.agents import resolve_actor
from governance.services.execution import proposal_execute
from governance.services.kill_switches import kill_switch_engage
from governance.services.ratelimits import endpoint_limit_hit

MAX_ID = 2**63 - 1
# Postgres text cannot hold NUL: such input is refused as invalid, never a 500.
NO_NUL = r"^[^\x00]*$"
# Which HTTP status a denial's reason code is answered with.
DENIAL_STATUS: dict[str, int] = {
    ReasonCode.RATE_LIMITED: 429,
    ReasonCode.RATE_LIMIT_UNAVAILABLE: 503,
    ReasonCode.INPUT_INVALID: 422,
    ReasonCode.RATIONALE_REQUIRED: 422,
    ReasonCode.CAPABILITY_UNKNOWN: 422,
    ReasonCode.CAPABILITY_RETIRED: 422,
    ReasonCode.ILLEGAL_TRANSITION: 409,
    # The proposal's state does not allow a run (yet, or any more).
    ReasonCode.APPROVAL_REQUIRED: 409,
    ReasonCode.APPROVAL_EXPIRED: 409,
    ReasonCode.PROPOSAL_REJECTED: 409,
    ReasonCode.PROPOSAL_EXPIRED: 409,
    ReasonCode.PROPOSAL_CANCELLED: 409,
    ReasonCode.EXECUTION_EXISTS: 409,
    ReasonCode.INPUT_CHANGED: 409,
}
HTTP_CODES: dict[int, str] = {
    400: "MALFORMED_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


class StrictJSONParser(Parser):
    """JSON bodies without NaN or Infinity (they have no JSON form, and no canonical hash).
    NUL characters are refused by the schemas (422), since Postgres text cannot hold them."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        def refuse(constant: str) -> Any:
            raise ValueError(f"{constant} is not JSON")

        def finite(text: str) -> float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(f"{text} is out of range")
            return value

        parsed: dict[str, Any] = json.loads(request.body, parse_constant=refuse, parse_float=finite)
        return parsed


class AgentBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ResolvedActor | None:
        return resolve_actor(token.strip())


api = NinjaAPI(
    title="Studio Brain agent API",
    version="1",
    description=(
        "Agents propose; staff decide. Every call needs `Authorization: Bearer sbk_…`. "
        "Errors are `{code, message, request_id}`; policy denials add `decision_id`, whose "
        "trace says which check refused and why."
    ),
    urls_namespace="api-v1",
    docs_url=None,
    auth=AgentBearer(),
    parser=StrictJSONParser(),
)


class ErrorOut(Schema):
    code: str
    message: str
    request_id: str
    decision_id: int | None = None
    intake_id: int | None = None
    retry_after: int | None = None
    field_errors: dict[str, list[str]] | None = None


ERRORS: dict[int, type[Schema]] = {
    code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429, 503)
}


def _error(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    body = {"code": code, "message": message, "request_id": current_request_id() or ""}
    body.update({key: value for key, value in extra.items() if value is not None})
    response = api.create_response(request, body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(
        request,
        401,
        "UNAUTHENTICATED",
        "A valid bearer token is required: it is missing, malformed, unknown, expired or "
        "revoked, or its agent is disabled.",
        headers={"WWW-Authenticate": 'Bearer realm="studio-brain"'},
    )


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    field_errors: dict[str, list[str]] = {}
    for problem in exc.errors:
        location = [str(part) for part in problem.get("loc", ()) if part not in ("body", "payload")]
        field_errors.setdefault(".".join(location) or "body", []).append(str(problem.get("msg")))
    summary = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in field_errors.items())
    return _error(
        request,
        422,
        "VALIDATION_ERROR",
        f"The request is invalid: {summary}",
        field_errors=field_errors,
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = "The request body is not valid JSON." if exc.status_code == 400 else str(exc)
    return _error(request, exc.status_code, HTTP_CODES.get(exc.status_code, "ERROR"), message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "NOT_FOUND", str(exc) or "Not found.")


def _actor(request: HttpRequest) -> ResolvedActor:
    actor = getattr(request, "auth", None)  # set by django-ninja's authentication
    assert isinstance(actor, ResolvedActor)
    return actor


# Capabilities -----------------------------------------------------------------------------


class CapabilityOut(Schema):
    id: str
    description: str
    mode: str
    risk: str
    requires_approval: bool
    approvals_required: int
    max_calls_per_hour: int | None
    delegated: bool = Field(description="Whether a delegation in force covers it for this agent.")
    input_schema: dict[str, Any]


@api.get(
    "/capabilities", response={200: list[CapabilityOut], **ERRORS}, summary="List capabilities"
)
def capabilities(request: HttpRequest) -> list[dict[str, Any]]:
    actor = _actor(request)
    return [
        {
            "id": spec.id,
            "description": spec.description,
            "mode": str(spec.mode),
            "risk": spec.risk.label,
            "requires_approval": spec.requires_approval,
            "approvals_required": spec.approvals_required,
            "max_calls_per_hour": spec.max_calls_per_hour,
            "delegated": actor.may_use(spec.id),
            "input_schema": spec.input_schema(),
        }
        for spec in REGISTRY
    ]


# Proposals --------------------------------------------------------------------------------


class ProposalIn(Schema):
    model_config = ConfigDict(extra="forbid")

    capability: str = Field(min_length=1, max_length=100)
    input: dict[str, Any]
    rationale: str = Field(max_length=2000)
    on_behalf_of: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The owner of the resources acted on (default: the agent's owner).",
    )
    based_on_snapshot: str = Field(default="", max_length=100)
    delegation_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The delegation the agent acts under (default: any of its delegations).",
    )

    @model_validator(mode="after")
    def _no_nul(self) -> ProposalIn:
        # Postgres text and jsonb cannot hold NUL: refuse it as invalid input, never a 500.
        if contains_nul(self.model_dump()):
            raise ValueError("text may not contain NUL characters")
        return self


@api.post(
    "/proposals",
    response={200: ProposalOut, 201: ProposalOut, **ERRORS},
    summary="Submit a proposal",
    description=(
        "Runs the endpoint rate limit, the delegation check for the capability and the "
        "resource owner, and the intake policy, then queues the proposal for staff approval. "
        "A repeated `Idempotency-Key` returns the first result (200) or 409 when the request "
        "differs."
    ),
)
def proposal_create(
    request: HttpRequest,
    payload: ProposalIn,
    idempotency_key: str | None = Header(
        default=None, alias="Idempotency-Key", min_length=1, max_length=128
    ),
) -> Any:
    actor = _actor(request)
    try:
        submission = agent_proposal_submit(
            actor=actor,
            capability_id=payload.capability,
            input=payload.input,
            rationale=payload.rationale,
            on_behalf_of=payload.on_behalf_of,
            based_on_snapshot=payload.based_on_snapshot,
            delegation_id=payload.delegation_id,
            idempotency_key=idempotency_key,
        )
    except IdempotencyConflict as conflict:
        return _error(request, 409, "IDEMPOTENCY_KEY_REUSED", str(conflict))
    except SubmissionDenied as denial:
        return _denied(request, denial)
    except Denied as denial:
        return _error(
            request, DENIAL_STATUS.get(denial.code, 403), str(denial.code), denial.message
        )
    return Status(
        200 if submission.replayed else 201,
        ProposalOut.of(
            submission.proposal, decision_id=submission.decision_id, replayed=submission.replayed
        ),
    )


def _denied(request: HttpRequest, denial: SubmissionDenied) -> HttpResponse:
    status = DENIAL_STATUS.get(denial.code, 403)
    headers = {"Retry-After": str(denial.retry_after)} if denial.retry_after else None
    return _error(
        request,
        status,
        str(denial.code),
        denial.message,
        headers=headers,
        decision_id=denial.decision_id,
        intake_id=denial.intake_id,
        retry_after=denial.retry_after,
        field_errors=denial.field_errors or None,
    )


def _proposal_or_404(actor: ResolvedActor, proposal_id: int) -> Proposal:
    proposal = proposal_get(actor.studio.pk, proposal_id)
    if proposal is None:
        raise Http404(f"There is no proposal #{proposal_id} in this studio.")
    return proposal


@api.get(
    "/proposals/{proposal_id}",
    response={200: ProposalOut, **ERRORS},
    summary="Read a proposal's status",
)
def proposal_read(request: HttpRequest, proposal_id: int = Path(..., ge=1, le=MAX_ID)) -> Any:
    return ProposalOut.of(_proposal_or_404(_actor(request), proposal_id))


class CheckOut(Schema):
    position: int
    check: str
    passed: bool | None
    explanation: str
    input: dict[str, Any]


class DecisionOut(Schema):
    id: int
    kind: str
    allowed: bool
    code: str
    message: str
    capability: str
    resource_owner: str
    decided_at: datetime
    retry_after: int | None
    proposal_id: int | None
    intake_id: int | None
    checks: list[CheckOut]


class ProposalTraceOut(Schema):
    proposal_id: int
    status: str
    decisions: list[DecisionOut]


def _decision_out(decision: PolicyDecision) -> dict[str, Any]:
    return {
        "id": decision.pk,
        "kind": decision.kind,
        "allowed": decision.allowed,
        "code": decision.code,
        "message": decision.message,
        "capability": decision.capability_id,
        "resource_owner": decision.resource_owner_id,
        "decided_at": decision.decided_at,
        "retry_after": decision.retry_after,
        "proposal_id": decision.proposal_id,
        "intake_id": decision.intake_review_id,
        "checks": [
            {
                "position": step.position,
                "check": step.check_name,
                "passed": step.passed,
                "explanation": step.explanation,
                "input": step.input,
            }
            for step in decision.trace.all()
        ],
    }


@api.get(
    "/proposals/{proposal_id}/trace",
    response={200: ProposalTraceOut, **ERRORS},
    summary="Read a proposal's decision trace",
)
def proposal_trace(request: HttpRequest, proposal_id: int = Path(..., ge=1, le=MAX_ID)) -> Any:
    proposal = _proposal_or_404(_actor(request), proposal_id)
    return {
        "proposal_id": proposal.pk,
        "status": proposal.status,
        "decisions": [_decision_out(d) for d in proposal_decisions(proposal)],
    }


@api.get(
    "/decisions/{decision_id}",
    response={200: DecisionOut, **ERRORS},
    summary="Read one of this agent's decisions with its trace (e.g. a denial)",
)
def decision_read(request: HttpRequest, decision_id: int = Path(..., ge=1, le=MAX_ID)) -> Any:
    actor = _actor(request)
    decision = decision_get(actor.studio.pk, decision_id)
    if decision is None or (decision.actor_type, decision.actor_id) != (
        str(actor.actor_type),
        actor.actor_id,
    ):
        raise Http404(f"There is no decision #{decision_id} of this agent.")
    return _decision_out(decision)


class IntakeOut(Schema):
    id: int
    status: str
    capability: str
    categories: list[str]
    policy_version: str
    reason_code: str
    proposal_id: int | None
    created_at: datetime
    decided_at: datetime | None


@api.get(
    "/intake/{intake_id}",
    response={200: IntakeOut, **ERRORS},
    summary="Read the review status of a submission the intake policy held",
)
def intake_read(request: HttpRequest, intake_id: int = Path(..., ge=1, le=MAX_ID)) -> Any:
    actor = _actor(request)
    review: IntakeReview | None = intake_get(actor.studio.pk, intake_id)
    if review is None or review.agent_id != actor.actor_id:
        raise Http404(f"There is no intake review #{intake_id} of this agent.")
    return {
        "id": review.pk,
        "status": review.status,
        "capability": review.capability_id,
        "categories": review.categories,
        "policy_version": review.policy_version,
        "reason_code": review.reason_code,
        "proposal_id": review.proposal_id,
        "created_at": review.created_at,
        "decided_at": review.decided_at,
    }


# Execution and kill switches ----------------------------------------------------------------


class ExecuteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    delegation_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The delegation the agent acts under (default: any of its delegations).",
    )


class ExecutionOut(Schema):
    id: int
    proposal_id: int
    status: str
    approval_state: str = Field(description='"approved", or "exempt" under an exemption.')
    idempotency_key: str
    queued_at: datetime


def _execution_out(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.pk,
        "proposal_id": execution.proposal_id,
        "status": execution.status,
        "approval_state": execution.approval_state,
        "idempotency_key": str(execution.idempotency_key),
        "queued_at": execution.queued_at,
    }


def _denial(request: HttpRequest, denial: Denied) -> HttpResponse:
    retry_after = denial.detail.get("retry_after")
    return _error(
        request,
        DENIAL_STATUS.get(denial.code, 403),
        str(denial.code),
        denial.message,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
        decision_id=denial.detail.get("decision_id"),
        retry_after=retry_after,
        field_errors=denial.field_errors or None,
    )


@api.post(
    "/proposals/{proposal_id}/execute",
    response={202: ExecutionOut, **ERRORS},
    summary="Execute an approved proposal",
    description=(
        "Counts against the execute rate limit, then runs the execution gateway: the agent "
        "needs a delegation in force from the owner of the proposal's resources covering the "
        "capability, no kill switch may cover it, and it must be approved (or exempt). "
        "202: the write is queued; the worker decides the delegation and the kill switches "
        "again right before sending. 403 policy denial (with `decision_id` where a trace was "
        "stored), 409 the proposal's state does not allow a run, 429/503 rate limits."
    ),
)
def proposal_execute_endpoint(
    request: HttpRequest,
    proposal_id: int = Path(..., ge=1, le=MAX_ID),
    payload: ExecuteIn | None = None,
) -> Any:
    actor = _actor(request)
    limited = endpoint_limit_hit(
        studio_id=actor.studio.pk, endpoint=Endpoint.EXECUTE, actor=actor.as_actor()
    )
    if not limited.allowed:
        return _error(
            request,
            DENIAL_STATUS.get(limited.code, 429),
            limited.code,
            limited.message,
            headers={"Retry-After": str(limited.retry_after)} if limited.retry_after else None,
            decision_id=limited.detail.get("decision_id"),
            retry_after=limited.retry_after,
        )
    _proposal_or_404(actor, proposal_id)
    try:
        execution = proposal_execute(
            proposal_id=proposal_id,
            actor=actor,
            studio=actor.studio,
            delegation_id=payload.delegation_id if payload else None,
        )
    except Denied as denial:
        return _denial(request, denial)
    return Status(202, _execution_out(execution))


class KillSwitchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["global", "studio", "capability", "connector"] = Field(
        description="What to stop: everything, this studio, one capability, one connector."
    )
    capability: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_NUL)
    connector: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=NO_NUL,
        description="A connector of this studio.",
    )
    reason: str = Field(max_length=2000, pattern=NO_NUL, description="At least 10 characters.")


class KillSwitchOut(Schema):
    id: int
    scope: str
    label: str
    engaged: bool


@api.post(
    "/kill-switch",
    response={201: KillSwitchOut, **ERRORS},
    summary="Engage a kill switch",
    description=(
        "Stops executions at once: everything, this agent's studio, one capability, or one "
        "connector of this studio. Agents may only engage; releasing takes two staff admins. "
        "409 when that switch is already on."
    ),
)
def kill_switch_endpoint(request: HttpRequest, payload: KillSwitchIn) -> Any:
    actor = _actor(request)
    target: dict[str, Any] = {}
    if payload.scope == "studio":
        target = {"studio": actor.studio}
    elif payload.scope == "capability":
        if not payload.capability:
            return _field_missing(request, "capability")
        target = {"capability_id": payload.capability}
    elif payload.scope == "connector":
        if not payload.connector:
            return _field_missing(request, "connector")
        connector = ConnectorConfig.objects.filter(
            studio=actor.studio, name=payload.connector
        ).first()
        if connector is None:
            raise Http404(f"There is no connector {payload.connector!r} in this studio.")
        target = {"connector": connector}
    try:
        switch = kill_switch_engage(actor=actor, reason=payload.reason, **target)
    except Denied as denial:
        return _denial(request, denial)
    return Status(
        201, {"id": switch.pk, "scope": switch.scope, "label": switch.label, "engaged": True}
    )


def _field_missing(request: HttpRequest, name: str) -> HttpResponse:
    return _error(
        request,
        422,
        "VALIDATION_ERROR",
        f"The request is invalid: {name} is required for this scope.",
        field_errors={name: ["Required for this scope."]},
    )
