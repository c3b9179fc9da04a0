"""Governance's scheduled jobs: each runs through the job runner and calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from brain.jobs import run_job
from brain.models import JobRun
from governance.actors import Actor
from governance.audit import audit_digest_create
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
