"""Governance's tasks: scheduled jobs (each runs through the job runner and calls one
service) and the execution worker's run, with the one function that queues it.

Queues come from ``task_routes`` in ``studio_brain/celery.py``, never from the call sites. The
services never import this module; the gateway (``governance.services.execution``)
queues a run through ``execution_enqueue`` after its decision commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from brain.jobs import run_job
from brain.models import JobRun
from governance.actors import Actor
from governance.audit import audit_digest_create
from governance.selectors.execution import executions_lost
from governance.services.execution_reconcile import execution_reconcile_due
from governance.services.execution_run import execution_run
from governance.services.notifications import (
    notify_expiring_proposals as notify_expiring_proposals_due,
)
from governance.services.proposals import proposal_expire_due


def audit_digest_job(job_id: str | None = None) -> JobRun:
    """Sign every chain head for today. Without a key the run FAILS, saying so (never unsigned)."""

    def body(run: JobRun) -> dict[str, Any]:
        made = audit_digest_create(key=settings.BRAIN.audit_signing_key)
        return {
            "digests": [
                {"chain": d.studio_id, "day": d.day.isoformat(), "sequence": d.sequence}
                for d in made
            ]
        }

    return run_job("audit_digest", body, job_id=job_id)


@shared_task(name="governance.tasks.audit_digest", bind=True)
def audit_digest(self: Any) -> None:
    audit_digest_job(job_id=self.request.id)


@shared_task(name="governance.tasks.expire_proposals", bind=True)
def expire_proposals(self: Any) -> None:
    """Expire pending proposals past BRAIN_PROPOSAL_TTL and approvals past BRAIN_APPROVAL_WINDOW."""

    def body(run: JobRun) -> dict[str, Any]:
        expired = proposal_expire_due(actor=Actor.system("expire_proposals"))
        return {"expired": expired}

    run_job("expire_proposals", body, job_id=self.request.id)


@shared_task(name="governance.tasks.notify_expiring_proposals", bind=True)
def notify_expiring_proposals(self: Any) -> None:
    """Tell the approvers about pending proposals that expire within two hours (once each)."""

    def body(run: JobRun) -> dict[str, Any]:
        return {"emitted": notify_expiring_proposals_due()}

    run_job("notify_expiring_proposals", body, job_id=self.request.id)


@shared_task(name="governance.tasks.run_execution", bind=True, acks_late=True)
def run_execution(self: Any, execution_id: int) -> None:
    """Send one allowed execution's write (queued by the gateway after its commit).

    Late acknowledgement: a worker that dies mid-task has its message delivered again, and
    the redelivery finds the row already claimed and does nothing; the reconcile job settles
    it by reading the outside back.
    """
    execution_run(execution_id=execution_id, worker=str(self.request.hostname or ""))


@shared_task(name="governance.tasks.reconcile_executions", bind=True)
def reconcile_executions(self: Any) -> None:
    """Settle executions left running past their deadline; requeue ones whose task was lost."""

    def body(run: JobRun) -> dict[str, Any]:
        return executions_reconcile()

    run_job("reconcile_executions", body, job_id=self.request.id)


def execution_enqueue(execution_id: int) -> None:
    """Queue the worker's run of an allowed execution (on ``execute``, by ``task_routes``)."""
    run_execution.delay(execution_id)


def executions_reconcile(*, now: datetime | None = None) -> dict[str, list[int]]:
    """Settle executions left running past their deadline (by reading the outside back) and
    queue again the ones still waiting for a task that was lost (the claim makes a second
    delivery harmless). The report says which went where."""
    now = now or timezone.now()
    report = execution_reconcile_due(now=now)
    report["requeued"] = executions_lost(now=now)
    for execution_id in report["requeued"]:
        execution_enqueue(execution_id)
    return report
