"""The request id crosses from the publisher into a task run by a real worker on Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from brain.models import JobRun
from brain.tasks import log_probe
from studio_brain.celery import REQUEST_ID_TASK_HEADER, app
from tests.conftest import WAIT_SECONDS

ROOT = Path(__file__).resolve().parents[2]

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


@pytest.fixture
def worker_process(transactional_db) -> Iterator[WorkerOutput]:
    """`celery -A studio_brain worker` as production runs it, on the test database and Redis,
    with its stdout collected line by line."""
    from django.db import connection

    env = {
        **os.environ,
        # The worker writes job runs where this test can read them.
        "DATABASE_URL": _database_url(connection.settings_dict),
        "PYTHONUNBUFFERED": "1",
    }
    hostname = f"probe-{uuid.uuid4().hex[:8]}@%h"
    process = subprocess.Popen(
        # --quiet drops Celery's start-up banner, the one non-JSON thing a worker prints.
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "studio_brain",
            "--quiet",
            "worker",
            "--pool",
            "solo",
            "-n",
            hostname,
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = WorkerOutput(process)
    try:
        yield output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(WAIT_SECONDS)
        output.reader.join(WAIT_SECONDS)


def _database_url(settings_dict: dict) -> str:
    user = settings_dict["USER"] or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


class WorkerOutput:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_json(self, predicate) -> dict:
        deadline = time.monotonic() + WAIT_SECONDS * 2
        while time.monotonic() < deadline and self.process.poll() is None:
            for line in list(self.lines):
                if line.startswith("{"):
                    record = json.loads(line)
                    if predicate(record):
                        return record
            time.sleep(0.1)
        raise AssertionError(
            f"no matching line from the worker (exit code {self.process.poll()}):\n"
            + "\n".join(self.lines)
        )


def test_a_worker_process_writes_the_request_id_into_its_json_stdout(worker_process):
    with structlog.contextvars.bound_contextvars(request_id="req-subprocess-0042"):
        result = log_probe.delay("across a process boundary")

    success = worker_process.wait_for_json(
        lambda line: (
            line.get("event") == "job.log_probe.success" and line.get("job_id") == result.id
        )
    )
    assert success["request_id"] == "req-subprocess-0042"
    assert success["component"] == "brain"
    assert success["level"] == "info"
    assert "timestamp" in success
    # Everything the worker printed, stdout and stderr, is one JSON object per line.
    for line in worker_process.lines:
        assert isinstance(json.loads(line), dict), line
    assert wait_for_run(result.id).request_id == "req-subprocess-0042"
