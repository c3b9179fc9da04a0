"""The execution gateway: the ONLY code that calls a connector write (DESIGN.md invariant 3).

``proposal_execute`` decides, in one transaction with the proposal row locked, in this order:

1. capability known ............................................. CAPABILITY_UNKNOWN
2. actor scope: staff need operator or above in the proposal's studio (ROLE_REQUIRED, or
   TENANT_MISMATCH for a non-member); an agent needs a delegation from the owner of the
   resources the proposal touches, in force and covering the capability (DELEGATION_*,
   decided by ``delegation_decision`` with its trace stored); a system job only for
   capabilities that need no approval ............................. ACTOR_NOT_ALLOWED
3. kill switch covering the proposal (global, its studio, its capability; its connector's
   is read once step 8 names the connector)
   ................................................................ BLOCKED_BY_POLICY
4. studio (tenant) match with the caller's studio ................. TENANT_MISMATCH
5. approved with quorum, or an active exemption stands in, and not already executed
   ........... APPROVAL_REQUIRED / PROPOSAL_REJECTED / PROPOSAL_EXPIRED / EXECUTION_EXISTS
6. the input still hashes to what every approver approved ........ INPUT_CHANGED
7. inside the approval window (not for an exempt run) ............. APPROVAL_EXPIRED
8. writes enabled (BRAIN_ENABLE_WRITE_EXECUTION) and a usable write path (connector
   enabled, in write_pilot mode, command allowlisted) ............ WRITES_DISABLED
9. the capability's hourly budget: in this studio (Postgres, under an advisory lock) and
   per (studio, owner, actor, capability) on Redis ... RATE_LIMITED / RATE_LIMIT_UNAVAILABLE

A denial rolls the attempt back, is then audited on its own (``execution.denied`` with the
code) and raised as ``Denied`` with a plain-language message. A denial decided by the
policy layer (delegation, quota) also stores its decision and trace after the rollback, in
the same transaction as the ``execution.denied`` event, which names it (``decision_id``). An allowed execution becomes
an ``Execution`` row (queued) and an ``execution.allowed`` event in the same transaction,
and its task is queued on the ``execute`` queue only after that transaction commits.

``execution_run`` (the task's body) claims the row with a conditional UPDATE (queued →
running), so however often the task is delivered, one worker sends the write. It checks the
kill switch, the master switch and (for an agent) the delegation again, reads the target's state, sends the intent with
the idempotency key, reads the state again, and settles the row and the proposal (executed
or failed) with ``execution.succeeded`` / ``execution.failed`` carrying the output hash and
the pre- and post-state hashes.

``execution_reconcile_due`` settles rows a vanished worker left ``running`` past their
deadline by reading the external state back — never by sending the write again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from brain.canonical import canonical_hash
from brain.models import Role, Studio
from connectors.runtime import build_connector
from connectors.sdk.base import Connector
from connectors.sdk.errors import ConfigurationError, ConnectorError, ErrorCode
from connectors.sdk.schemas import WriteCheck, WriteIntent, WriteOutcome
from governance.actors import Actor
from governance.audit import audit_append
from governance.capabilities import CAPABILITIES, CapabilitySpec
from governance.enums import ActorType, ExecutionStatus, ProposalStatus
from governance.errors import Denied
from governance.identity import ResolvedActor
from governance.models import AgentClient, DecisionKind, Execution, Proposal
from governance.policies.decision import Decision
from governance.reasons import ReasonCode
from governance.selectors.execution import engaged_kill_switch
from governance.selectors.policy import exemption_active, proposal_resource_owner
from governance.selectors.proposals import approval_is_fresh, approval_matches, granted_count
from governance.services.common import audit_denial, lock_proposal, require_role
from governance.services.decisions import decision_record
from governance.services.delegations import delegation_decision
from governance.services.ratelimits import quota_consume
from governance.transitions import Event, IllegalTransition, next_status
from governance.write_paths import (
    WritePathUnavailable,
    WritePlan,
    execution_intent,
    write_plan,
)

log = structlog.stdlib.get_logger("governance.execution")

QUOTA_WINDOW = timedelta(hours=1)
# A queued row whose task never arrived (a broker restart lost it) is sent again after this.
QUEUED_GRACE = timedelta(minutes=2)
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"


# -- the decision -----------------------------------------------------------------------------


def _deny(proposal: Proposal, code: ReasonCode, message: str = "", **detail: Any) -> Denied:
    return Denied(
        code, message, studio_id=proposal.studio_id, proposal_id=proposal.pk, detail=detail
    )


@dataclass(frozen=True)
class PolicyOutcome:
    """A policy-layer decision the gateway took but has not stored yet (see ``_store``)."""

    kind: DecisionKind
    decision: Decision
    actor: Actor
    capability_id: str
    owner_id: str
    audit_action: str
    delegation_id: int | None = None


class PolicyDenied(Denied):
    """A gateway denial decided by the policy layer: its decision and trace are stored after
    the attempt rolls back, next to the ``execution.denied`` event."""

    def __init__(self, proposal: Proposal, outcome: PolicyOutcome, **detail: Any) -> None:
        decision = outcome.decision
        super().__init__(
            ReasonCode(decision.code),
            decision.message,
            studio_id=proposal.studio_id,
            proposal_id=proposal.pk,
            detail={**detail, "retry_after": decision.retry_after}
            if decision.retry_after
            else detail,
        )
        self.outcome = outcome


def _store(outcome: PolicyOutcome, proposal_id: int, studio_id: int) -> int:
    """Store a policy decision with its trace and audit it (in the caller's transaction)."""
    row = decision_record(
        studio_id=studio_id,
        kind=outcome.kind,
        actor=outcome.actor,
        decision=outcome.decision,
        capability_id=outcome.capability_id,
        resource_owner_id=outcome.owner_id,
        delegation_id=outcome.delegation_id,
        proposal_id=proposal_id,
        audit_action=outcome.audit_action,
        metadata={"gateway": "execution"},
    )
    return row.pk


def _agent_identity(proposal: Proposal, actor: Actor) -> ResolvedActor:
    """An agent named without its token (a job, the CLI): its row in the proposal's studio
    gives the owner it acts for. A missing or disabled agent has no owner and therefore no
    delegation that can match."""
    agent = (
        AgentClient.objects.filter(studio_id=proposal.studio_id, agent_id=actor.id)
        .select_related("studio")
        .first()
    )
    owner = agent.owner_id if agent is not None and not agent.disabled else ""
    studio = agent.studio if agent is not None else Studio(pk=proposal.studio_id)
    return ResolvedActor(actor_type=ActorType.AGENT, actor_id=actor.id, owner=owner, studio=studio)


def _delegation_outcome(
    *,
    proposal: Proposal,
    resolved: ResolvedActor,
    owner_id: str,
    now: datetime,
    delegation_id: int | None = None,
) -> PolicyOutcome:
    decision = delegation_decision(
        actor=resolved,
        capability_id=proposal.capability_id,
        resource_owner_id=owner_id,
        at=now,
        delegation_id=delegation_id,
        proposal_id=proposal.pk,
        record=False,
    )
    return PolicyOutcome(
        kind=DecisionKind.DELEGATION,
        decision=decision,
        actor=resolved.as_actor(),
        capability_id=proposal.capability_id,
        owner_id=owner_id,
        audit_action=f"delegation.{'allowed' if decision.allowed else 'denied'}",
        delegation_id=decision.detail.get("delegation_id"),
    )


def _check_capability(proposal: Proposal) -> CapabilitySpec:
    spec = CAPABILITIES.get(proposal.capability_id)
    if spec is None:
        raise _deny(
            proposal,
            ReasonCode.CAPABILITY_UNKNOWN,
            f"{proposal.capability_id} is no longer in the capability registry, so nothing may "
            "run it.",
        )
    return spec


def _check_actor(
    proposal: Proposal,
    spec: CapabilitySpec,
    actor: Actor,
    resolved: ResolvedActor | None,
    now: datetime,
    delegation_id: int | None,
) -> str:
    """Check who is asking; return the owner whose resources (and budget) the run uses.

    An agent's owner is the one its proposal was submitted for (the confused-deputy guard:
    a delegation from any other owner does not count), else the owner it acts for. Staff
    act for the proposal's owner when it has one, else for themselves.
    """
    recorded_owner = proposal_resource_owner(proposal)
    if actor.type == ActorType.STAFF:
        require_role(
            actor, studio_id=proposal.studio_id, minimum=Role.OPERATOR, proposal_id=proposal.pk
        )
        return recorded_owner or (actor.user.get_username() if actor.user else actor.id)
    if actor.type == ActorType.AGENT:
        identity = resolved or _agent_identity(proposal, actor)
        owner = recorded_owner or identity.owner
        outcome = _delegation_outcome(
            proposal=proposal,
            resolved=identity,
            owner_id=owner,
            now=now,
            delegation_id=delegation_id,
        )
        if not outcome.decision.allowed:
            raise PolicyDenied(proposal, outcome)
        _store(outcome, proposal.pk, proposal.studio_id)
        return owner
    if spec.requires_approval:
        raise _deny(
            proposal,
            ReasonCode.ACTOR_NOT_ALLOWED,
            f"A system job may only execute capabilities that need no approval; {spec.id} "
            "needs one.",
        )
    return recorded_owner or ""


def _check_kill_switch(
    proposal: Proposal, spec: CapabilitySpec, connector_id: int | None = None
) -> None:
    """Global, studio and capability switches at step 3; the connector's switch once the
    write path names the connector (step 8). Both read inside the gateway's transaction."""
    switch = engaged_kill_switch(spec.id, studio_id=proposal.studio_id, connector_id=connector_id)
    if switch is not None:
        who = getattr(switch, "engaged_label", "") or "someone"
        reason = getattr(switch, "engaged_reason", "")
        raise _deny(
            proposal,
            ReasonCode.BLOCKED_BY_POLICY,
            f"The {switch.label} kill switch is on (engaged by {who}: {reason}).",
            kill_switch=switch.label,
        )


def _check_tenant(proposal: Proposal, studio_id: int | None) -> None:
    if studio_id is not None and studio_id != proposal.studio_id:
        raise _deny(
            proposal,
            ReasonCode.TENANT_MISMATCH,
            "This proposal belongs to a different studio than the one you are acting in.",
        )


def _check_approved(proposal: Proposal, owner_id: str, now: datetime) -> int | None:
    """Pass an approved proposal (None) or one an active exemption covers (its id)."""
    status = proposal.status
    if status in (ProposalStatus.EXECUTED, ProposalStatus.FAILED):
        raise _deny(proposal, ReasonCode.EXECUTION_EXISTS, status=status)
    if status == ProposalStatus.REJECTED:
        raise _deny(proposal, ReasonCode.PROPOSAL_REJECTED)
    if status == ProposalStatus.EXPIRED:
        code = ReasonCode.APPROVAL_EXPIRED if proposal.approved_at else ReasonCode.PROPOSAL_EXPIRED
        raise _deny(proposal, code)
    _check_not_executed(proposal)
    granted = granted_count(proposal)
    if status != ProposalStatus.APPROVED or granted < proposal.approvals_required:
        exemption = exemption_active(
            studio_id=proposal.studio_id,
            capability_id=proposal.capability_id,
            owner_id=owner_id,
            at=now,
        )
        if exemption is not None and status == ProposalStatus.PENDING_APPROVAL:
            return exemption.pk
        raise _deny(
            proposal,
            ReasonCode.APPROVAL_REQUIRED,
            f"{granted} of {proposal.approvals_required} required approvals so far; "
            "it can run once it is approved.",
            granted=granted,
            approvals_required=proposal.approvals_required,
        )
    return None


def _check_not_executed(proposal: Proposal) -> None:
    existing = Execution.objects.filter(proposal=proposal).values_list("pk", "status").first()
    if existing is not None:
        raise _deny(
            proposal,
            ReasonCode.EXECUTION_EXISTS,
            f"Execution {existing[0]} of this proposal is already {existing[1]}; "
            "a proposal runs only once.",
            execution=existing[0],
        )


def _check_input(proposal: Proposal) -> None:
    if not approval_matches(proposal):
        raise _deny(
            proposal,
            ReasonCode.INPUT_CHANGED,
            "The input no longer matches the hash the approvers approved; it must be proposed "
            "and approved again.",
        )


def _check_window(proposal: Proposal, now: datetime) -> None:
    if not approval_is_fresh(proposal, now=now):
        window = settings.BRAIN.approval_window
        raise _deny(
            proposal,
            ReasonCode.APPROVAL_EXPIRED,
            f"Approved more than {window} ago (BRAIN_APPROVAL_WINDOW); it must be approved again.",
        )


def _check_writes(proposal: Proposal) -> WritePlan:
    if not settings.BRAIN.enable_write_execution:
        raise _deny(
            proposal,
            ReasonCode.WRITES_DISABLED,
            "External writes are off on this runtime (BRAIN_ENABLE_WRITE_EXECUTION=false).",
        )
    try:
        plan = write_plan(proposal)
    except WritePathUnavailable as problem:
        raise _deny(proposal, ReasonCode.WRITES_DISABLED, str(problem)) from None
    blockers = plan.blockers()
    if blockers:
        raise _deny(proposal, ReasonCode.WRITES_DISABLED, " ".join(blockers))
    return plan


def _check_quota(
    proposal: Proposal, spec: CapabilitySpec, actor: Actor, owner_id: str, now: datetime
) -> None:
    """The studio-wide hourly count (Postgres), then one slot of the (studio, owner, actor,
    capability) budget on Redis — last, because taking the slot is the one side effect a
    rollback cannot undo. Redis unreachable: RATE_LIMIT_UNAVAILABLE (fail safe)."""
    _check_studio_quota(proposal, spec, now)
    decision = quota_consume(
        studio_id=proposal.studio_id,
        owner_id=owner_id,
        actor=actor,
        capability_id=spec.id,
        record=False,
    )
    if not decision.allowed:
        action = (
            "rate_limit_unavailable"
            if decision.code == ReasonCode.RATE_LIMIT_UNAVAILABLE
            else "rate_limit_triggered"
        )
        outcome = PolicyOutcome(
            kind=DecisionKind.QUOTA,
            decision=decision,
            actor=actor,
            capability_id=spec.id,
            owner_id=owner_id,
            audit_action=action,
        )
        raise PolicyDenied(proposal, outcome)


def _check_studio_quota(proposal: Proposal, spec: CapabilitySpec, now: datetime) -> None:
    limit = spec.max_calls_per_hour
    if limit is None:
        return
    # Serialise quota decisions per (studio, capability) until commit, so two proposals
    # executed at once cannot both take the last slot.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"execution-quota:{proposal.studio_id}:{spec.id}"],
        )
    since = now - QUOTA_WINDOW
    used = Execution.objects.filter(
        studio_id=proposal.studio_id, capability_id=spec.id, queued_at__gt=since
    ).count()
    if used >= limit:
        raise _deny(
            proposal,
            ReasonCode.RATE_LIMITED,
            f"{spec.id} ran {used} times in this studio in the last hour; the limit is {limit}. "
            "Try again later.",
            used=used,
            limit=limit,
        )


def proposal_execute(
    *,
    proposal_id: int,
    actor: Actor | ResolvedActor,
    studio: Studio | int | None = None,
    now: datetime | None = None,
    delegation_id: int | None = None,
) -> Execution:
    """Run every check (see the module docstring) and queue the approved proposal's write.

    ``actor`` is a governance ``Actor`` or, at the agent API, the ``ResolvedActor`` its token
    resolved to (``delegation_id``: the delegation the agent says it acts under). ``studio``
    is the studio the caller acts in (the cockpit page, the CLI's ``--studio``); a proposal
    of another studio is denied TENANT_MISMATCH. Returns the queued ``Execution``; raises
    ``Denied`` (already audited as ``execution.denied``; a ``PolicyDenied`` also has its
    decision stored, ``detail["decision_id"]``). Call it outside any transaction: a
    denial's audit event must commit although nothing else does.
    """
    studio_id = studio.pk if isinstance(studio, Studio) else studio
    resolved = actor if isinstance(actor, ResolvedActor) else None
    plain = actor.as_actor() if isinstance(actor, ResolvedActor) else actor
    denial_metadata: dict[str, Any] = {}
    try:
        with transaction.atomic():
            proposal = lock_proposal(proposal_id)
            denial_metadata["capability"] = proposal.capability_id
            execution = _decide(
                proposal, plain, resolved, studio_id, now or timezone.now(), delegation_id
            )
            transaction.on_commit(lambda: _enqueue(execution.pk))
            return execution
    except Denied as denial:
        with transaction.atomic():
            if isinstance(denial, PolicyDenied) and denial.studio_id is not None:
                decision_id = _store(denial.outcome, proposal_id, denial.studio_id)
                denial.detail["decision_id"] = decision_id
            audit_denial(denial, actor=plain, action="execution.denied", metadata=denial_metadata)
        raise


def _decide(
    proposal: Proposal,
    actor: Actor,
    resolved: ResolvedActor | None,
    studio_id: int | None,
    now: datetime,
    delegation_id: int | None,
) -> Execution:
    spec = _check_capability(proposal)
    owner_id = _check_actor(proposal, spec, actor, resolved, now, delegation_id)
    _check_kill_switch(proposal, spec)
    _check_tenant(proposal, studio_id)
    exemption_id = _check_approved(proposal, owner_id, now)
    _check_input(proposal)
    if exemption_id is None:
        _check_window(proposal, now)
    plan = _check_writes(proposal)
    _check_kill_switch(proposal, spec, connector_id=plan.connector.pk)
    _check_quota(proposal, spec, actor, owner_id, now)
    approval_state = "exempt" if exemption_id is not None else str(proposal.status)
    execution = Execution.objects.create(
        proposal=proposal,
        studio_id=proposal.studio_id,
        capability_id=spec.id,
        status=ExecutionStatus.QUEUED,
        requested_by_type=actor.type,
        requested_by_id=actor.id,
        owner_id=owner_id,
        approval_state=approval_state,
        connector=plan.connector,
        operation=plan.operation,
        target=plan.target,
        params=plan.params,
        input_hash=proposal.input_hash,
        timeout_seconds=int(plan.timeout().total_seconds()),
        queued_at=now,
    )
    audit_append(
        studio=proposal.studio_id,
        actor=actor,
        action="execution.allowed",
        target_type="proposal",
        target_id=proposal.pk,
        approval_state=approval_state,
        reason_code=ReasonCode.ALLOWED,
        input_hash=proposal.input_hash,
        metadata={
            "capability": spec.id,
            "execution": execution.pk,
            "owner": owner_id,
            "exemption": exemption_id,
            "idempotency_key": str(execution.idempotency_key),
            "connector": plan.connector.name,
            "kind": plan.connector.kind,
            "operation": plan.operation,
            "target": plan.target,
            "timeout_seconds": execution.timeout_seconds,
        },
    )
    return execution


def _enqueue(execution_id: int) -> None:
    from governance.tasks import run_execution

    run_execution.apply_async(args=(execution_id,), queue="execute")


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Settlement:
    """How an execution ended, as the worker (or the reconcile job) found it."""

    status: ExecutionStatus
    reason_code: str = ReasonCode.ALLOWED
    outcome: WriteOutcome | None = None
    pre: WriteCheck | None = None
    post: WriteCheck | None = None
    error_code: str = ""
    error: str = ""
    reconciled: bool = False
    notes: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def _late_blocker(execution: Execution) -> tuple[ReasonCode, str, dict[str, Any]] | None:
    """Between queueing and running, a kill switch may have been engaged, writes turned off,
    or (for an agent) its delegation expired or been revoked: decided again right before
    the write, and an agent's decision stored with its trace either way."""
    switch = engaged_kill_switch(
        execution.capability_id,
        studio_id=execution.studio_id,
        connector_id=execution.connector_id,
    )
    if switch is not None:
        return ReasonCode.BLOCKED_BY_POLICY, f"The {switch.label} kill switch was engaged.", {}
    if not settings.BRAIN.enable_write_execution:
        return ReasonCode.WRITES_DISABLED, "External writes were switched off.", {}
    if execution.requested_by_type == ActorType.AGENT:
        proposal = Proposal.objects.get(pk=execution.proposal_id)
        identity = _agent_identity(proposal, Actor.agent(execution.requested_by_id))
        outcome = _delegation_outcome(
            proposal=proposal,
            resolved=identity,
            owner_id=execution.owner_id,
            now=timezone.now(),
        )
        decision_id = _store(outcome, proposal.pk, proposal.studio_id)
        if not outcome.decision.allowed:
            return (
                ReasonCode(outcome.decision.code),
                f"Checked again before sending: {outcome.decision.message}",
                {"decision_id": decision_id},
            )
    return None


def _read_back(connector: Connector, intent: WriteIntent, notes: list[str]) -> WriteCheck | None:
    try:
        return connector.verify(intent)
    except ConnectorError as error:
        notes.append(f"read-back failed: {error.code}: {error.message}"[:300])
        return None


def execution_run(*, execution_id: int, worker: str = "") -> Execution | None:
    """Send one queued execution's write. Returns the settled row, or None when this delivery
    found it already claimed (by another delivery, or settled by the reconcile job)."""
    Execution.objects.filter(pk=execution_id).update(attempts=F("attempts") + 1)
    execution = Execution.objects.filter(pk=execution_id).first()
    if execution is None or execution.status != ExecutionStatus.QUEUED:
        return None
    now = timezone.now()
    claimed = Execution.objects.filter(pk=execution_id, status=ExecutionStatus.QUEUED).update(
        status=ExecutionStatus.RUNNING,
        started_at=now,
        deadline_at=now + timedelta(seconds=execution.timeout_seconds),
    )
    if not claimed:
        return None
    execution.refresh_from_db()
    blocker = _late_blocker(execution)
    if blocker is not None:
        code, message, detail = blocker
        return _settle(
            execution,
            Settlement(
                ExecutionStatus.FAILED,
                reason_code=code,
                error_code=code,
                error=message,
                detail=detail,
            ),
            worker,
        )
    try:
        connector = build_connector(execution.connector)
    except ConfigurationError as error:
        return _settle(
            execution,
            Settlement(
                ExecutionStatus.FAILED,
                reason_code="",
                error_code=ErrorCode.UNKNOWN,
                error=f"connector configuration: {error}"[:500],
            ),
            worker,
        )
    intent = execution_intent(execution)
    notes: list[str] = []
    try:
        pre = _read_back(connector, intent, notes)
        try:
            outcome = connector.execute(intent)
        except ConnectorError as error:
            settlement = _after_write_error(connector, intent, error, pre, notes)
        else:
            post = _read_back(connector, intent, notes)
            settlement = Settlement(
                ExecutionStatus.SUCCEEDED if outcome.accepted else ExecutionStatus.FAILED,
                reason_code=ReasonCode.ALLOWED if outcome.accepted else "",
                outcome=outcome,
                pre=pre,
                post=post,
                error="" if outcome.accepted else f"not accepted: {outcome.detail}"[:500],
                notes=notes,
            )
    finally:
        connector.close()
    return _settle(execution, settlement, worker)


def _after_write_error(
    connector: Connector,
    intent: WriteIntent,
    error: ConnectorError,
    pre: WriteCheck | None,
    notes: list[str],
) -> Settlement:
    """The write raised. If the request may have reached the outside (its answer was lost),
    read the state back: a write that shows applied succeeded; anything else failed."""
    failed = Settlement(
        ExecutionStatus.FAILED,
        reason_code="",
        pre=pre,
        error_code=str(error.code),
        error=error.message[:500],
        notes=notes,
    )
    if error.code in (ErrorCode.READ_ONLY_VIOLATION, ErrorCode.AUTH):
        return failed  # refused before anything was sent
    check = _read_back(connector, intent, notes)
    failed.post = check
    if check is not None and check.applied:
        notes.append(f"the write raised {error.code} but the read-back shows it applied")
        return Settlement(
            ExecutionStatus.SUCCEEDED,
            pre=pre,
            post=check,
            reconciled=True,
            error_code=str(error.code),
            error=error.message[:500],
            notes=notes,
        )
    return failed


def _settle(execution: Execution, settlement: Settlement, worker: str) -> Execution | None:
    """Record how a running execution ended and move its proposal, in one transaction.

    The row changes only if it is still running (the worker and the reconcile job may race
    for a late row: the first one settles it, the second changes nothing).
    """
    now = timezone.now()
    outcome = settlement.outcome
    result = outcome.model_dump(mode="json", exclude={"meta"}) if outcome else {}
    pre_state = settlement.pre.state if settlement.pre else {}
    post_state = settlement.post.state if settlement.post else {}
    values: dict[str, Any] = {
        "status": settlement.status,
        "finished_at": now,
        "result": outcome.result if outcome else {},
        "output_hash": canonical_hash(result) if outcome else "",
        "replayed": bool(outcome and outcome.replayed),
        "reconciled": settlement.reconciled,
        "pre_state": pre_state,
        "pre_state_hash": canonical_hash(pre_state) if settlement.pre else "",
        "post_state": post_state,
        "post_state_hash": canonical_hash(post_state) if settlement.post else "",
        "error_code": settlement.error_code,
        "error": settlement.error,
    }
    with transaction.atomic():
        proposal = lock_proposal(execution.proposal_id)
        changed = Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.RUNNING).update(
            **values
        )
        if not changed:
            return None
        succeeded = settlement.status == ExecutionStatus.SUCCEEDED
        event = Event.EXECUTE_SUCCEED if succeeded else Event.EXECUTE_FAIL
        notes = list(settlement.notes)
        try:
            proposal.status = next_status(proposal.status, event)
        except IllegalTransition as illegal:
            notes.append(f"proposal status left as {proposal.status}: {illegal}")
        else:
            proposal.updated_at = now
            proposal.save(update_fields=["status", "updated_at"])
        audit_append(
            studio=proposal.studio_id,
            actor=Actor(ActorType(execution.requested_by_type), execution.requested_by_id),
            action="execution.succeeded" if succeeded else "execution.failed",
            target_type="proposal",
            target_id=proposal.pk,
            approval_state=proposal.status,
            reason_code=settlement.reason_code,
            input_hash=execution.input_hash,
            output_hash=values["output_hash"],
            metadata={
                "capability": execution.capability_id,
                "execution": execution.pk,
                "idempotency_key": str(execution.idempotency_key),
                "operation": execution.operation,
                "target": execution.target,
                "pre_state_hash": values["pre_state_hash"],
                "post_state_hash": values["post_state_hash"],
                "replayed": values["replayed"],
                "reconciled": settlement.reconciled,
                "error_code": settlement.error_code,
                "error": settlement.error,
                "notes": notes,
                "worker": worker,
                **settlement.detail,
            },
        )
    execution.refresh_from_db()
    log.info(
        "execution.settled",
        execution=execution.pk,
        proposal=execution.proposal_id,
        status=execution.status,
        reconciled=execution.reconciled,
        error_code=execution.error_code,
    )
    return execution


# -- the reconcile job ------------------------------------------------------------------------


def execution_reconcile_due(*, now: datetime | None = None) -> dict[str, list[int]]:
    """Settle executions a vanished worker left behind, by reading the outside back.

    A row ``running`` past its deadline: its write may or may not have happened. The target's
    state is read back: applied → succeeded, not applied → failed (nothing is resent; a
    person proposes again), undecidable → failed with OUTCOME_UNKNOWN for a person to check.
    A read-back that fails leaves the row for the next run. A row still ``queued`` after
    ``QUEUED_GRACE`` lost its task: it is queued again (the claim makes that safe).
    """
    now = now or timezone.now()
    report: dict[str, list[int]] = {"succeeded": [], "failed": [], "unsettled": [], "requeued": []}
    overdue = Execution.objects.filter(
        status=ExecutionStatus.RUNNING, deadline_at__lt=now
    ).select_related("connector")
    for execution in overdue:
        outcome = _reconcile_one(execution)
        report[outcome].append(execution.pk)
    stale = Execution.objects.filter(
        status=ExecutionStatus.QUEUED, queued_at__lt=now - QUEUED_GRACE
    ).values_list("pk", flat=True)
    for execution_id in stale:
        _enqueue(execution_id)
        report["requeued"].append(execution_id)
    return report


def _reconcile_one(execution: Execution) -> str:
    notes = [f"running past its deadline ({execution.deadline_at}); settled by reading back"]
    try:
        connector = build_connector(execution.connector)
    except ConfigurationError as error:
        log.warning("execution.unsettled", execution=execution.pk, error=str(error))
        return "unsettled"
    try:
        check = _read_back(connector, execution_intent(execution), notes)
    finally:
        connector.close()
    if check is None:
        log.warning("execution.unsettled", execution=execution.pk, notes=notes)
        return "unsettled"
    if check.applied:
        settlement = Settlement(ExecutionStatus.SUCCEEDED, post=check, reconciled=True, notes=notes)
    elif check.applied is False:
        settlement = Settlement(
            ExecutionStatus.FAILED,
            reason_code="",
            post=check,
            reconciled=True,
            error_code="NOT_APPLIED",
            error="The worker stopped and the outside does not show the change; nothing was "
            "sent again. Propose it again if it is still wanted.",
            notes=notes,
        )
    else:
        settlement = Settlement(
            ExecutionStatus.FAILED,
            reason_code="",
            post=check,
            reconciled=True,
            error_code=OUTCOME_UNKNOWN,
            error="The worker stopped and the device's state cannot show whether the command "
            "ran; check it by hand.",
            notes=notes,
        )
    settled = _settle(execution, settlement, "reconcile")
    if settled is None:
        return "unsettled"
    return "succeeded" if settled.status == ExecutionStatus.SUCCEEDED else "failed"
