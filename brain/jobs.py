"""The job runner: every scheduled job run is a JobRun row, single-flight per (job, studio).

Single-flight uses a Postgres session-level advisory lock keyed on the job name and the
studio, so it holds across every worker process and host (process memory would not).
A run that finds the lock taken is recorded as ``skipped`` and logged ``job.<name>.skipped``.
"""

from __future__ import annotations

import traceback
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from django.db import connection
from django.utils import timezone

from brain import metrics
from brain.context import current_request_id
from brain.models import JobRun

log = structlog.stdlib.get_logger("brain.jobs")

JobBody = Callable[[JobRun], dict[str, Any] | None]


def _lock_keys(name: str, studio_id: int | None) -> tuple[int, int]:
    # pg_try_advisory_lock(int4, int4): the job name hashed to a signed 32-bit int, and the studio.
    name_key = zlib.crc32(name.encode()) - 2**31
    return name_key, studio_id or 0


@contextmanager
def single_flight(name: str, studio_id: int | None) -> Iterator[bool]:
    """Yield True when this process holds the (job, studio) lock, False when another does."""
    keys = _lock_keys(name, studio_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", keys)
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", keys)


def run_job(
    name: str, body: JobBody, *, studio_id: int | None = None, job_id: str | None = None
) -> JobRun:
    """Run ``body`` as job ``name`` for a studio, recording begin/success/failure/skip.

    ``body`` receives the running JobRun and returns a JSON summary. A failure is recorded
    with its error and re-raised so Celery sees it too.
    """
    job_id = job_id or uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(job_id=job_id, job=name)
    if studio_id is not None:
        structlog.contextvars.bind_contextvars(studio=studio_id)
    request_id = current_request_id() or ""
    with single_flight(name, studio_id) as acquired:
        now = timezone.now()
        if not acquired:
            run = JobRun.objects.create(
                name=name,
                studio_id=studio_id,
                job_id=job_id,
                request_id=request_id,
                status=JobRun.Status.SKIPPED,
                started_at=now,
                finished_at=now,
                summary={"reason": "already running for this studio"},
            )
            log.info(f"job.{name}.skipped", reason="already running")
            metrics.JOB_RUNS.labels(job=name, status="skipped").inc()
            return run
        run = JobRun.objects.create(
            name=name,
            studio_id=studio_id,
            job_id=job_id,
            request_id=request_id,
            status=JobRun.Status.RUNNING,
            started_at=now,
        )
        log.info(f"job.{name}.begin")
        try:
            summary = body(run) or {}
        except Exception as error:
            run.status = JobRun.Status.FAILED
            run.error = "".join(traceback.format_exception_only(error)).strip()[:4000]
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
            log.error(f"job.{name}.failure", error=run.error)
            metrics.JOB_RUNS.labels(job=name, status="failed").inc()
            raise
        run.status = JobRun.Status.SUCCEEDED
        run.summary = summary
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "summary", "finished_at"])
        log.info(
            f"job.{name}.success",
            summary=summary,
            duration_ms=round((run.finished_at - run.started_at).total_seconds() * 1000),
        )
        metrics.JOB_RUNS.labels(job=name, status="succeeded").inc()
        return run
