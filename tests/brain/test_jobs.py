"""The job runner: JobRun rows, begin/success/failure/skip log lines, and single flight per
(job, studio) held by a Postgres advisory lock across real connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from brain.jobs import run_job
from brain.models import JobRun
from brain.tasks import prune_job_runs
from tests.conftest import WAIT_SECONDS
from tests.factories import JobRunFactory, StudioFactory


class KilnOffline(Exception):
    pass


@pytest.mark.django_db
def test_a_successful_run_is_recorded_with_its_summary_and_logged(json_logs, studio):
    run = run_job(
        "capture", lambda run: {"documents": 12}, studio_id=studio.id, job_id="job-capture-1"
    )

    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.summary == {"documents": 12}
    assert run.studio == studio
    assert run.job_id == "job-capture-1"
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.error == ""
    events = [line["event"] for line in json_logs.lines() if line.get("job_id") == "job-capture-1"]
    assert events == ["job.capture.begin", "job.capture.success"]
    success = json_logs.events("job.capture.success")[0]
    assert success["summary"] == {"documents": 12}
    assert success["studio"] == studio.id


@pytest.mark.django_db
def test_the_body_sees_its_own_running_row(studio):
    seen: dict[str, Any] = {}

    def body(run: JobRun) -> None:
        seen["status"] = JobRun.objects.get(pk=run.pk).status

    run = run_job("peek", body, studio_id=studio.id)

    assert seen["status"] == JobRun.Status.RUNNING
    assert run.summary == {}


@pytest.mark.django_db
def test_a_failing_run_records_the_error_and_re_raises(json_logs, studio):
    def body(run: JobRun) -> None:
        raise KilnOffline("kiln 2 did not answer")

    with pytest.raises(KilnOffline):
        run_job("capture", body, studio_id=studio.id, job_id="job-capture-fail")

    run = JobRun.objects.get(job_id="job-capture-fail")
    assert run.status == JobRun.Status.FAILED
    assert run.error == "tests.brain.test_jobs.KilnOffline: kiln 2 did not answer"
    assert run.finished_at is not None
    failure = json_logs.events("job.capture.failure")[0]
    assert failure["level"] == "error"
    assert failure["job_id"] == "job-capture-fail"
    assert "kiln 2 did not answer" in failure["error"]


@pytest.mark.django_db
def test_a_failed_run_releases_the_lock_for_the_next_one(studio):
    def body(run: JobRun) -> None:
        raise KilnOffline("kiln 2 did not answer")

    with pytest.raises(KilnOffline):
        run_job("capture", body, studio_id=studio.id)

    assert (
        run_job("capture", lambda run: None, studio_id=studio.id).status == JobRun.Status.SUCCEEDED
    )


@contextmanager
def run_held_open(name: str, studio_id: int | None) -> Iterator[dict[str, Any]]:
    """Run job ``name`` in another thread (its own database connection) and keep it running
    until the block ends, so it holds the advisory lock meanwhile."""
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def body(run: JobRun) -> dict[str, str]:
        started.set()
        assert release.wait(WAIT_SECONDS), "the test never released the held job"
        return {"held": "yes"}

    def target() -> None:
        try:
            outcome["run"] = run_job(name, body, studio_id=studio_id, job_id=f"held-{name}")
        except BaseException as error:  # reported to the test below
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert started.wait(WAIT_SECONDS), f"the held job did not start: {outcome}"
        yield outcome
    finally:
        release.set()
        thread.join(WAIT_SECONDS)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")


@pytest.mark.django_db(transaction=True)
def test_a_run_is_skipped_while_another_holds_the_lock_for_the_same_studio(json_logs):
    studio = StudioFactory(slug="north-kiln")
    with run_held_open("capture", studio.id):
        skipped = run_job(
            "capture", lambda run: {"ran": True}, studio_id=studio.id, job_id="job-second"
        )

    assert skipped.status == JobRun.Status.SKIPPED
    assert skipped.summary == {"reason": "already running for this studio"}
    assert skipped.finished_at == skipped.started_at
    line = json_logs.events("job.capture.skipped")[0]
    assert line["job_id"] == "job-second"
    assert line["reason"] == "already running"
    assert all(begin["job_id"] != "job-second" for begin in json_logs.events("job.capture.begin"))
    held = JobRun.objects.get(job_id="held-capture")
    assert held.status == JobRun.Status.SUCCEEDED
    assert held.summary == {"held": "yes"}


@pytest.mark.django_db(transaction=True)
def test_the_lock_is_free_again_once_the_holder_finishes():
    studio = StudioFactory(slug="north-kiln")
    with run_held_open("capture", studio.id):
        pass

    assert (
        run_job("capture", lambda run: None, studio_id=studio.id).status == JobRun.Status.SUCCEEDED
    )


@pytest.mark.django_db(transaction=True)
def test_different_studios_do_not_block_each_other():
    north = StudioFactory(slug="north-kiln")
    south = StudioFactory(slug="south-clay")
    with run_held_open("capture", north.id):
        other = run_job("capture", lambda run: {"ok": 1}, studio_id=south.id)

    assert other.status == JobRun.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_different_jobs_of_one_studio_do_not_block_each_other():
    studio = StudioFactory(slug="north-kiln")
    with run_held_open("capture", studio.id):
        other = run_job("prune", lambda run: None, studio_id=studio.id)

    assert other.status == JobRun.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_runtime_wide_job_is_single_flight_too():
    with run_held_open("prune_job_runs", None):
        skipped = run_job("prune_job_runs", lambda run: None)

    assert skipped.status == JobRun.Status.SKIPPED
    assert skipped.studio is None


@pytest.mark.django_db
def test_pruning_deletes_job_runs_older_than_the_retention_period(studio, settings):
    now = timezone.now()
    retention = timedelta(days=settings.BRAIN.retention_days)
    old = JobRunFactory(
        name="capture",
        studio=studio,
        job_id="old",
        status="succeeded",
        started_at=now - retention - timedelta(hours=1),
    )
    kept = JobRunFactory(
        name="capture",
        studio=studio,
        job_id="kept",
        status="succeeded",
        started_at=now - retention + timedelta(hours=1),
    )

    prune_job_runs.apply()

    assert not JobRun.objects.filter(pk=old.pk).exists()
    assert JobRun.objects.filter(pk=kept.pk).exists()
    prune = JobRun.objects.get(name="prune_job_runs")
    assert prune.status == JobRun.Status.SUCCEEDED
    assert prune.summary["deleted"] == 1
