"""The execution worker's run: claim a queued execution, check again, send the write, settle.

``execution_run`` (the body of ``governance.tasks.run_execution``) claims the row with a
conditional UPDATE (queued → running), so however often the task is delivered, one worker
sends the write. It checks the kill switch, the master switch and (for an agent) the
delegation again, reads the target's state, sends the intent with the idempotency key,
reads the state again, and settles the row and the proposal (executed or failed) with
``execution.succeeded`` / ``execution.failed`` carrying the output hash and the pre- and
post-state hashes. This is the only module that calls a connector's write
(``tests/test_guardrails.py`` holds it to that).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors.runtime import build_connector
from connectors.sdk.base import Connector
from connectors.sdk.canonical import canonical_hash
from connectors.sdk.errors import ConfigurationError, ConnectorError, ErrorCode
from connectors.sdk.schemas import WriteCheck, WriteIntent, WriteOutcome
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType, ExecutionStatus
from governance.errors import PendingDecision
from governance.identity import ResolvedActor
from governance.models import Execution, Proposal
from governance.reasons import ReasonCode
from governance.selectors.execution import engaged_kill_switch
from governance.services.agents import agent_named
from governance.services.common import lock_proposal
from governance.services.decisions import decision_store
from governance.services.delegations import delegation_pending
from governance.transitions import Event, IllegalTransition, next_status
from governance.write_paths import execution_intent

log = structlog.stdlib.get_logger("governance.execution")

# What the gateway adds to the decisions it stores, so a trace says where it was decided.
GATEWAY_METADATA = {"gateway": "execution"}


def execution_delegation(
    proposal: Proposal,
    identity: ResolvedActor,
    owner_id: str,
    now: datetime,
    delegation_id: int | None = None,
) -> PendingDecision:
    """The agent's delegation decision for running ``proposal`` for ``owner_id``, not stored
    yet: the gateway decides it (``governance.services.execution``), and the worker again
    right before it sends the write. Stored in the proposal's studio chain."""
    pending = delegation_pending(
        actor=identity,
        capability_id=proposal.capability_id,
        resource_owner_id=owner_id,
        at=now,
        delegation_id=delegation_id,
        proposal_id=proposal.pk,
        metadata=GATEWAY_METADATA,
    )
    return dataclasses.replace(pending, studio_id=proposal.studio_id)


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
        identity = agent_named(studio_id=proposal.studio_id, agent_id=execution.requested_by_id)
        pending = execution_delegation(proposal, identity, execution.owner_id, timezone.now())
        decision_id = decision_store(pending).pk
        if not pending.decision.allowed:
            return (
                ReasonCode(pending.decision.code),
                f"Checked again before sending: {pending.decision.message}",
                {"decision_id": decision_id},
            )
    return None


def read_back(connector: Connector, intent: WriteIntent, notes: list[str]) -> WriteCheck | None:
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
        return execution_settle(
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
        return execution_settle(
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
        pre = read_back(connector, intent, notes)
        try:
            outcome = connector.execute(intent)
        except ConnectorError as error:
            settlement = _after_write_error(connector, intent, error, pre, notes)
        else:
            post = read_back(connector, intent, notes)
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
    return execution_settle(execution, settlement, worker)


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
    check = read_back(connector, intent, notes)
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


def execution_settle(execution: Execution, settlement: Settlement, worker: str) -> Execution | None:
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
