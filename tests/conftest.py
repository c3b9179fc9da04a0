"""Shared fixtures: two studios, staff of every role plus an outsider (docs/architecture.md), the real
JSON log output, and a real Celery worker on the machine's Redis."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from celery import signals
from celery.contrib.testing.worker import start_worker
from django.db import connections
from django.test import Client

from brain.models import Role, Studio
from tests.factories import CloudRecordFactory, MembershipFactory, StudioFactory, UserFactory

pytest_plugins = ["tests.peers.fixtures", "tests.policy_support"]

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Every wait on another thread or process is bounded by this many seconds.
WAIT_SECONDS = 20.0


@pytest.fixture(scope="session", autouse=True)
def _flush_past_audit_triggers():
    """Let test teardown flush the append-only audit table.

    Transactional tests (live_server, real workers, threads) end with Django's flush, a
    TRUNCATE of every table, which the audit table's trigger rejects by design. The flush
    runs with session_replication_role=replica, which skips ordinary triggers and needs a
    superuser: the test role is one, the application's role in production is not.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with self.connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            original(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute("RESET session_replication_role")

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": BROWSER_ARGS,
    }


@pytest.fixture(autouse=True)
def _clean_redis():
    """Every test starts and ends with none of the runtime's short-lived keys in this run's
    Redis database (ours alone: REDIS_URL's index): no quota or rate-limit counters (the
    execution gateway takes a quota slot on each allowed run) and no pending "check now"
    flags (the connectors page says "Check queued" while one exists)."""
    from django.conf import settings

    from connectors.services import PENDING_CHECK_PREFIX
    from governance.ratelimit import KEY_PREFIX
    from tests.policy_support import clear_keys

    # Read before the test runs: a test may point the limiter at a dead port.
    url = settings.BRAIN.redis_url
    patterns = (f"{KEY_PREFIX}:*", f"{PENDING_CHECK_PREFIX}*")
    clear_keys(url, *patterns)
    yield
    clear_keys(url, *patterns)


@pytest.fixture(autouse=True)
def fresh_log_context():
    # Each test starts without a request/job id bound by an earlier test in the same thread.
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture(autouse=True)
def demo_files_in_tmp(settings, tmp_path_factory):
    # Demo cloud files go to a temporary folder, never to the checkout's .data/.
    from brain.config import replace

    settings.BRAIN = replace(settings.BRAIN, demo_dir=str(tmp_path_factory.mktemp("demo")))


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Production hashing costs most of a second per user on this machine; tests hash many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Staff:
    studio: Studio
    other_studio: Studio
    viewer: Any
    operator: Any
    approver: Any
    admin: Any
    outsider: Any  # a member of the other studio only


@pytest.fixture
def studio(db) -> Studio:
    return StudioFactory(slug="north-kiln", name="North Kiln Ceramics")


@pytest.fixture
def other_studio(db) -> Studio:
    return StudioFactory(slug="south-clay", name="South Clay Works")


# The batches the suite's ops notes and batch closes name: proposals are refused
# TARGET_NOT_FOUND unless the studio's mirror holds the batch (governance/targets.py), so
# the ``staff`` studios hold them, as a studio whose cloud was captured would.
MIRRORED_BATCHES = ("b1", "b2", "b7", "b9", "b-1", "b-7", "batch-7", "batch-17", "batch-42")


def mirror_batches(studio: Studio, *batch_ids: str) -> None:
    for batch_id in batch_ids or MIRRORED_BATCHES:
        CloudRecordFactory(
            studio=studio,
            collection="batches",
            doc_id=batch_id,
            data={"title": f"Batch {batch_id}"},
        )


@pytest.fixture
def staff(studio, other_studio) -> Staff:
    def member(username: str, role: Role, where: Studio):
        return MembershipFactory(user=UserFactory(username=username), studio=where, role=role).user

    mirror_batches(studio)
    mirror_batches(other_studio)

    return Staff(
        studio=studio,
        other_studio=other_studio,
        viewer=member("vera", Role.VIEWER, studio),
        operator=member("otto", Role.OPERATOR, studio),
        approver=member("anna", Role.APPROVER, studio),
        admin=member("ada", Role.ADMIN, studio),
        outsider=member("oscar", Role.ADMIN, other_studio),
    )


@pytest.fixture
def login():
    def _login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login


class LogCapture:
    """The lines the runtime writes to stdout, rendered by the configured JSON formatter."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        # Every line must be one JSON object: a line that is not fails the test here.
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = [line for line in self.lines() if predicate(line)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no matching log line within {WAIT_SECONDS:g} s:\n{self.text()}")


@pytest.fixture
def json_logs() -> Iterator[LogCapture]:
    """Capture log output through the formatter of the real `stderr` handler (JSON + redaction).

    Request this fixture after `celery_worker` when both are used: starting a worker
    re-applies the logging configuration, which replaces the root logger's handlers.
    """
    root = logging.getLogger()
    stderr = next(handler for handler in root.handlers if handler.name == "stderr")
    capture = LogCapture()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(stderr.formatter)
    root.addHandler(handler)
    try:
        yield capture
    finally:
        root.removeHandler(handler)


def _close_worker_connections(**_: Any) -> None:
    connections.close_all()


@contextmanager
def running_worker() -> Iterator[Any]:
    """A real Celery worker (solo pool, in a thread) consuming the app's queues on Redis."""
    from studio_brain.celery import app

    # The worker thread opens its own database connection; close it after each task so
    # no connection outlives the test.
    signals.task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, shutdown_timeout=WAIT_SECONDS) as worker:
            yield worker
    finally:
        signals.task_postrun.disconnect(_close_worker_connections)


@pytest.fixture
def celery_worker() -> Iterator[Any]:
    """A worker running for the whole test (see ``running_worker`` to start one later)."""
    with running_worker() as worker:
        yield worker
