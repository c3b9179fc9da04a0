"""Celery tasks of the runtime. Tasks take ids, call the job runner, and return nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from celery import shared_task
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from brain.jobs import run_job
from brain.models import JobRun, Snapshot, Studio
from brain.services.reconciliation import reconciliation_run
from brain.services.snapshots import drift_check, snapshot_capture, source_for, studio_today

log = structlog.stdlib.get_logger("brain.tasks")


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


@shared_task(name="brain.tasks.capture_all_studios")
def capture_all_studios() -> None:
    """Beat: queue a read + capture for every studio this runtime serves (single flight per studio)."""
    for studio_id in served_studios().values_list("pk", flat=True):
        capture_studio_state.apply_async(args=(studio_id,))


@shared_task(name="brain.tasks.daily_snapshots")
def daily_snapshots() -> None:
    """Beat (hourly): after local midnight, take each studio's daily snapshot if it has none yet."""
    for studio in served_studios():
        if not Snapshot.objects.filter(
            studio=studio, kind=Snapshot.Kind.DAILY, snapshot_date=studio_today(studio)
        ).exists():
            capture_studio_state.apply_async(args=(studio.pk, Snapshot.Kind.DAILY))


@shared_task(name="brain.tasks.capture_studio_state", bind=True)
def capture_studio_state(self: Any, studio_id: int, kind: str = Snapshot.Kind.CAPTURE) -> None:
    """Read the cloud, capture a snapshot, then check drift against fresh counts."""
    studio = Studio.objects.filter(pk=studio_id).first()
    if studio is None:  # removed since the task was queued: nothing to read for
        log.warning("studio_state.capture_for_missing_studio", studio=studio_id)
        return

    def body(run: JobRun) -> dict[str, Any]:
        source = source_for(studio)
        result = snapshot_capture(studio=studio, source=source, kind=kind, job_run=run)
        summary: dict[str, Any] = {
            "snapshot": result.snapshot.pk,
            "created": result.created,
            "content_hash": result.snapshot.content_hash,
            "completeness": result.snapshot.completeness,
        }
        if result.created:
            finding = drift_check(studio=studio, source=source)
            summary["drift"] = len(finding.drifts) if finding else 0
        return summary

    run_job(f"studio_state.{kind}", body, studio_id=studio_id, job_id=self.request.id)


@shared_task(name="brain.tasks.reconcile_studio", bind=True)
def reconcile_studio(self: Any, studio_id: int) -> None:
    """Finance reconciliation of a studio's mirror (queued after each capture that read Stripe)."""
    studio = Studio.objects.filter(pk=studio_id).first()
    if studio is None:  # removed since the task was queued
        log.warning("reconciliation.for_missing_studio", studio=studio_id)
        return

    def body(run: JobRun) -> dict[str, Any]:
        outcome = reconciliation_run(studio=studio, job_run=run)
        return {
            "reconciliation_run": outcome.run.pk,
            "status": outcome.run.status,
            "flags": len(outcome.flags),
            "flags_new": outcome.run.flags_new,
            "flags_resolved": outcome.run.flags_resolved,
            "run_flags": outcome.run.run_flags,
        }

    run_job("reconciliation", body, studio_id=studio_id, job_id=self.request.id)


def queue_reconciliation(sender: Any, studio: Studio, snapshot: Snapshot, **_: Any) -> None:
    """``studio_state_captured`` receiver: a capture that read Stripe queues a reconciliation."""
    if snapshot.stripe_read_at is not None:
        reconcile_studio.apply_async(args=(studio.pk,))


def served_studios() -> QuerySet[Studio]:
    allowed = settings.BRAIN.allowed_studios
    studios = Studio.objects.order_by("pk")
    return studios.filter(slug__in=allowed) if allowed else studios
