"""Celery tasks of the runtime. Tasks take ids, call the job runner, and return nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from brain.jobs import run_job
from brain.models import JobRun


@shared_task(name="brain.tasks.prune_job_runs", bind=True)
def prune_job_runs(self: Any) -> None:
    """Delete job runs older than the retention period (they are derived, not evidence)."""

    def body(run: JobRun) -> dict[str, Any]:
        cutoff = timezone.now() - timedelta(days=settings.BRAIN.retention_days)
        deleted, _ = JobRun.objects.filter(started_at__lt=cutoff).exclude(pk=run.pk).delete()
        return {"deleted": deleted, "cutoff": cutoff.isoformat()}

    run_job("prune_job_runs", body, job_id=self.request.id)


@shared_task(name="brain.tasks.log_probe", bind=True)
def log_probe(self: Any, message: str) -> None:
    """A no-op job that logs a line: operators use it to see a request id cross into a worker."""

    def body(run: JobRun) -> dict[str, Any]:
        return {"message": message}

    run_job("log_probe", body, job_id=self.request.id)
