"""Settling executions a vanished worker left behind, by reading the outside back.

Never by sending the write again: a row ``running`` past its deadline is settled from the
target's state as read back (applied → succeeded, not applied → failed, undecidable →
failed with OUTCOME_UNKNOWN for a person to check).
"""

from __future__ import annotations

from datetime import datetime

import structlog
from django.utils import timezone

from connectors.runtime import build_connector
from connectors.sdk.errors import ConfigurationError
from governance.enums import ExecutionStatus
from governance.models import Execution
from governance.services.execution_run import Settlement, execution_settle, read_back
from governance.write_paths import execution_intent

log = structlog.stdlib.get_logger("governance.execution")

OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"


def execution_reconcile_due(*, now: datetime | None = None) -> dict[str, list[int]]:
    """Settle executions a vanished worker left behind, by reading the outside back.

    A row ``running`` past its deadline: its write may or may not have happened. The target's
    state is read back: applied → succeeded, not applied → failed (nothing is resent; a
    person proposes again), undecidable → failed with OUTCOME_UNKNOWN for a person to check.
    A read-back that fails leaves the row for the next run. (Rows still ``queued`` whose
    task was lost are queued again by ``governance.tasks.executions_reconcile``.)
    """
    now = now or timezone.now()
    report: dict[str, list[int]] = {"succeeded": [], "failed": [], "unsettled": []}
    overdue = Execution.objects.filter(
        status=ExecutionStatus.RUNNING, deadline_at__lt=now
    ).select_related("connector")
    for execution in overdue:
        outcome = _reconcile_one(execution)
        report[outcome].append(execution.pk)
    return report


def _reconcile_one(execution: Execution) -> str:
    notes = [f"running past its deadline ({execution.deadline_at}); settled by reading back"]
    try:
        connector = build_connector(execution.connector)
    except ConfigurationError as error:
        log.warning("execution.unsettled", execution=execution.pk, error=str(error))
        return "unsettled"
    try:
        check = read_back(connector, execution_intent(execution), notes)
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
    settled = execution_settle(execution, settlement, "reconcile")
    if settled is None:
        return "unsettled"
    return "succeeded" if settled.status == ExecutionStatus.SUCCEEDED else "failed"
