"""The capture task family through a real Celery worker and the real Redis broker."""

import json
import time

import pytest
from celery.contrib.testing.worker import start_worker

from brain.models import JobRun, Snapshot
from brain.state.demo import generate
from brain.tasks import capture_studio_state
from studio_brain.celery import app


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_captures_a_snapshot_and_records_the_job(studio, tmp_path, settings):
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
        result = capture_studio_state.apply_async(args=[studio.pk], queue="reads")
        deadline = time.monotonic() + 60
        run = None
        while time.monotonic() < deadline:
            run = (
                JobRun.objects.filter(job_id=result.id)
                .exclude(status=JobRun.Status.RUNNING)
                .first()
            )
            if run:
                break
            time.sleep(0.2)
    assert run is not None, "the worker never finished the capture"
    assert run.status == JobRun.Status.SUCCEEDED, run.error
    snapshot = Snapshot.objects.get(studio=studio)
    assert run.summary["content_hash"] == snapshot.content_hash
    assert run.summary["drift"] == 0
    assert snapshot.job_run_id == run.pk
