"""The request id crosses from the publisher into a task run by a real worker on Redis."""

from __future__ import annotations

import time

import pytest
import structlog

from brain.celery import REQUEST_ID_TASK_HEADER, app
from brain.models import JobRun
from brain.tasks import log_probe
from tests.conftest import WAIT_SECONDS

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


def wait_for_run(job_id: str) -> JobRun:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        run = JobRun.objects.filter(job_id=job_id).exclude(status=JobRun.Status.RUNNING).first()
        if run is not None:
            return run
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish within {WAIT_SECONDS:g} s")


def test_the_request_id_reaches_the_log_lines_of_a_task_run_by_a_real_worker(
    celery_worker, json_logs
):
    with structlog.contextvars.bound_contextvars(request_id="req-kiln-crossing-0001"):
        result = log_probe.delay("from the cockpit")

    success = json_logs.wait_for(
        lambda line: (
            line.get("event") == "job.log_probe.success" and line.get("job_id") == result.id
        )
    )
    assert success["request_id"] == "req-kiln-crossing-0001"
    assert success["summary"] == {"message": "from the cockpit"}
    begin = json_logs.events("job.log_probe.begin")
    assert [line["request_id"] for line in begin if line["job_id"] == result.id] == [
        "req-kiln-crossing-0001"
    ]
    run = wait_for_run(result.id)
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.request_id == "req-kiln-crossing-0001"


def test_a_task_published_outside_a_request_gets_its_own_fresh_request_id(celery_worker, json_logs):
    result = log_probe.delay("from beat")

    success = json_logs.wait_for(
        lambda line: (
            line.get("event") == "job.log_probe.success" and line.get("job_id") == result.id
        )
    )
    assert len(success["request_id"]) == 32
    assert wait_for_run(result.id).request_id == success["request_id"]


def test_a_malformed_request_id_in_the_headers_is_replaced_in_the_worker(celery_worker, json_logs):
    result = log_probe.apply_async(
        ("smuggled",), headers={REQUEST_ID_TASK_HEADER: "bad id\nwith newline"}
    )

    success = json_logs.wait_for(
        lambda line: (
            line.get("event") == "job.log_probe.success" and line.get("job_id") == result.id
        )
    )
    assert success["request_id"] != "bad id\nwith newline"
    assert len(success["request_id"]) == 32


def test_the_worker_consumes_every_queue_of_the_app(celery_worker):
    consumed = {queue.name for queue in celery_worker.consumer.task_consumer.queues}

    assert consumed == {"reads", "execute", "default"}
    assert {queue.name for queue in app.conf.task_queues} == consumed
