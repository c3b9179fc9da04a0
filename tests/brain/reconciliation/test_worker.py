"""A capture that read Stripe is followed by a reconciliation, through a real Celery worker on
Redis (the capture queues it on the reads queue once its transaction has committed)."""

from __future__ import annotations

import json
import time

import pytest
from celery.contrib.testing.worker import start_worker

from brain.models import JobRun, ReconciliationFlag, ReconciliationRun
from brain.state.demo import generate
from brain.tasks import capture_studio_state
from studio_brain.celery import app
from tests.conftest import WAIT_SECONDS

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_a_capture_by_a_real_worker_is_followed_by_a_reconciliation(studio, tmp_path, settings):
    from brain.config import replace

    settings.BRAIN = replace(settings.BRAIN, demo_mode=True, demo_dir=str(tmp_path))
    demo = generate(studio=studio.slug, size="small", seed=1)
    (tmp_path / studio.slug).mkdir()
    (tmp_path / studio.slug / "firestore.json").write_text(json.dumps(demo.firestore))
    (tmp_path / studio.slug / "stripe.json").write_text(json.dumps(demo.stripe))
    with app.connection_for_write() as connection:
        for queue in ("reads", "execute", "default"):  # tasks other tests queued without a worker
            connection.default_channel.queue_purge(queue)
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        capture_studio_state.apply_async(args=[studio.pk], queue="reads")
        deadline = time.monotonic() + 3 * WAIT_SECONDS
        job = None
        while time.monotonic() < deadline:
            job = (
                JobRun.objects.filter(studio=studio, name="reconciliation")
                .exclude(status=JobRun.Status.RUNNING)
                .first()
            )
            if job:
                break
            time.sleep(0.2)
    assert job is not None, "no reconciliation ran after the capture"
    assert job.status == JobRun.Status.SUCCEEDED, job.error
    run = ReconciliationRun.objects.get(studio=studio)
    assert job.summary["reconciliation_run"] == run.pk
    assert run.job_run_id == job.pk
    assert run.status == ReconciliationRun.Status.COMPLETE
    assert run.snapshot is not None and run.stripe_read_at == run.snapshot.stripe_read_at
    expected = {(f["order_id"], f["class"]) for f in demo.manifest["reconciliation"]["flags"]}
    found = set(
        ReconciliationFlag.objects.filter(studio=studio).values_list("order_id", "flag_class")
    )
    assert found == expected
