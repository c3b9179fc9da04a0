"""The execution gateway's decision: the ONLY way to an external write (docs/architecture.md invariant 3).

``proposal_execute`` decides, in one transaction with the proposal row locked, in this order:

1. capability known ............................................. CAPABILITY_UNKNOWN
2. actor scope: staff need operator or above in the proposal's studio (ROLE_REQUIRED, or
   TENANT_MISMATCH for a non-member); an agent needs a delegation from the owner of the
   resources the proposal touches, in force and covering the capability (DELEGATION_*,
   decided by ``delegation_pending`` with its trace stored); a system job only for
   capabilities that need no approval ............................. ACTOR_NOT_ALLOWED
3. kill switch covering the proposal (global, its studio, its capability; its connector's
   is read once step 8 names the connector)
   ................................................................ BLOCKED_BY_POLICY
4. studio (tenant) match with the caller's studio ................. TENANT_MISMATCH
5. approved with quorum, or an active exemption stands in, and not already executed
   ... APPROVAL_REQUIRED / PROPOSAL_REJECTED / PROPOSAL_EXPIRED / PROPOSAL_CANCELLED /
   EXECUTION_EXISTS
6. the input still hashes to what every approver approved ........ INPUT_CHANGED
7. inside the approval window (not for an exempt run) ............. APPROVAL_EXPIRED
8. writes enabled (BRAIN_ENABLE_WRITE_EXECUTION) and a usable write path (connector
   enabled, in write_pilot mode, command allowlisted) ............ WRITES_DISABLED
9. the capability's hourly budget: in this studio (Postgres, under an advisory lock) and
   per (studio, owner, actor, capability) on Redis ... RATE_LIMITED / RATE_LIMIT_UNAVAILABLE

The body runs under ``governed``: a denial rolls the attempt back, is then audited on its
own (``execution.denied`` with the code) and raised as ``Denied`` with a plain-language
message. A denial decided by the policy layer (delegation, quota) carries its decision,
which ``governed`` stores with its trace after the rollback, in the same transaction as the
``execution.denied`` event, which names it (``decision_id``). An allowed execution becomes
an ``Execution`` row (queued) and an ``execution.allowed`` event in the same transaction,
and ``governance.tasks.execution_enqueue`` queues its run only after that transaction
commits.

The run is ``governance.services.execution_run``; settling rows a vanished worker left
behind is ``governance.services.execution_reconcile``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from brain.models import Role, Studio
from governance.actors import Actor
from governance.audit import audit_append
from governance.capabilities import CAPABILITIES, CapabilitySpec
from governance.enums import ActorType, ExecutionStatus, ProposalStatus
from governance.errors import Denied, PendingDecision
from governance.identity import ResolvedActor
from governance.models import Execution, Proposal
from governance.reasons import ReasonCode
from governance.selectors.execution import engaged_kill_switch
from governance.selectors.policy import exemption_active, proposal_resource_owner
from governance.selectors.proposals import approval_is_fresh, approval_matches, granted_count
from governance.services.agents import agent_named
from governance.services.common import PROPOSAL, governed, lock_proposal, require_role
from governance.services.decisions import decision_store
from governance.services.execution_run import GATEWAY_METADATA, execution_delegation
from governance.services.ratelimits import quota_take
from governance.tasks import execution_enqueue
from governance.write_paths import WritePathUnavailable, WritePlan, write_plan

QUOTA_WINDOW = timedelta(hours=1)


def _deny(proposal: Proposal, code: ReasonCode, message: str = "", **detail: Any) -> Denied:
    return Denied(
        code, message, studio_id=proposal.studio_id, proposal_id=proposal.pk, detail=detail
    )


def _policy_denial(proposal: Proposal, pending: PendingDecision) -> Denied:
    """A denial the policy layer decided: ``governed`` stores its decision and trace after
    the attempt rolls back, next to the ``execution.denied`` event."""
    decision = pending.decision
    return Denied(
        ReasonCode(decision.code),
        decision.message,
        studio_id=proposal.studio_id,
        proposal_id=proposal.pk,
        detail={"retry_after": decision.retry_after} if decision.retry_after else {},
        decision=pending,
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
        identity = resolved or agent_named(studio_id=proposal.studio_id, agent_id=actor.id)
        owner = recorded_owner or identity.owner
        pending = execution_delegation(proposal, identity, owner, now, delegation_id)
        if not pending.decision.allowed:
            raise _policy_denial(proposal, pending)
        decision_store(pending)
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
    if status == ProposalStatus.CANCELLED:
        raise _deny(proposal, ReasonCode.PROPOSAL_CANCELLED)
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


def _check_write_path(proposal: Proposal, spec: CapabilitySpec) -> WritePlan:
    """Step 8 and the connector's kill switch: writes on, a usable write path, its connector
    not switched off. The gateway and ``execution_readiness`` both run exactly this."""
    plan = _check_writes(proposal)
    _check_kill_switch(proposal, spec, connector_id=plan.connector.pk)
    return plan


def execution_readiness(proposal: Proposal, *, now: datetime | None = None) -> Denied | None:
    """The denial the gateway would give ``proposal`` now for a reason no one's role can
    change, or None when nothing in the way is known. Reads only; audits nothing.

    The same check functions as ``proposal_execute``, in its order: capability known, the
    kill switches, and for an approved proposal not run yet, its input hash and approval
    window; then writes on and a usable write path with its connector's switch. Left out:
    who presses Execute (role, delegation), and the hourly quota, which is taken only by a
    real run. A pending proposal gets the same answer before anyone approves it.
    """
    now = now or timezone.now()
    try:
        spec = _check_capability(proposal)
        _check_kill_switch(proposal, spec)
        if proposal.status == ProposalStatus.APPROVED:
            _check_not_executed(proposal)
            _check_input(proposal)
            _check_window(proposal, now)
        _check_write_path(proposal, spec)
    except Denied as denial:
        return denial
    return None


def _check_quota(
    proposal: Proposal, spec: CapabilitySpec, actor: Actor, owner_id: str, now: datetime
) -> None:
    """The studio-wide hourly count (Postgres), then one slot of the (studio, owner, actor,
    capability) budget on Redis — last, because taking the slot is the one side effect a
    rollback cannot undo. Redis unreachable: RATE_LIMIT_UNAVAILABLE (fail safe)."""
    _check_studio_quota(proposal, spec, now)
    pending = quota_take(
        studio_id=proposal.studio_id, owner_id=owner_id, actor=actor, capability_id=spec.id
    )
    if not pending.decision.allowed:
        raise _policy_denial(
            proposal,
            dataclasses.replace(pending, proposal_id=proposal.pk, metadata=GATEWAY_METADATA),
        )


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
    ``Denied`` (already audited as ``execution.denied``; a policy denial also has its
    decision stored, ``detail["decision_id"]``). Call it outside any transaction: a
    denial's audit event must commit although nothing else does.
    """
    studio_id = studio.pk if isinstance(studio, Studio) else studio
    resolved = actor if isinstance(actor, ResolvedActor) else None
    plain = actor.as_actor() if isinstance(actor, ResolvedActor) else actor
    denial_metadata: dict[str, Any] = {}

    def body() -> Execution:
        proposal = lock_proposal(proposal_id)
        denial_metadata["capability"] = proposal.capability_id
        execution = _decide(
            proposal, plain, resolved, studio_id, now or timezone.now(), delegation_id
        )
        transaction.on_commit(lambda: execution_enqueue(execution.pk))
        return execution

    return governed("execution.denied", plain, body, target=PROPOSAL, metadata=denial_metadata)


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
    plan = _check_write_path(proposal, spec)
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
