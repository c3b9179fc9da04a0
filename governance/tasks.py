"""Governance's scheduled jobs: each runs through the job runner and calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from brain.jobs import run_job
from brain.models import JobRun
from governance.actors import Actor
from governance.audit import audit_digest_create
from governance.services.execution import execution_reconcile_due, execution_run
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
        return execution_reconcile_due()

    run_job("reconcile_executions", body, job_id=self.request.id)
