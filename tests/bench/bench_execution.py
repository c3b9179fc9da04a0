"""Benchmarks of the execution gateway. ``main()`` prints the figures.

Runs against its own database (``<DATABASE_URL's name>_bench_execution``, dropped and
recreated) and the Redis named by ``REDIS_URL``, with the Hubitat Maker API peer in this
process and a real Celery worker in a subprocess:

1. approve → executed: a high-risk Hubitat command (two approvers) from the quorum-reaching
   approval, through ``proposal_execute``, the ``execute`` queue on Redis, the worker's
   claim, read, command, read-back and settlement, until the proposal reads ``executed``.
   p50/p95 over 200 runs. Goal: p95 <= 1 s.
2. the gateway decision for an allowed execute, every check included (capability, role,
   kill switch, tenant, quorum, input hash, window, writes and write path, quota with its
   advisory lock, the Execution row, the audit append, the commit and the task publish),
   p50/p99 and its query count, against one bare ``SELECT 1`` round trip to Postgres.

    python -m tests.bench.bench_execution [--runs N] [--decisions N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HUB_TOKEN_ENV = "BENCH_HUB_TOKEN"
POLL_SECONDS = 0.002


def _bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/studio_brain")
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "studio_brain"
    return urlunsplit(parts._replace(path=f"/{name}_bench_execution"))


def _setup_django() -> None:
    bench_url = _bench_database_url()
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")
    os.environ.setdefault(
        "DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789abcdef-0123456789abcdef"
    )
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("BRAIN_LOG_LEVEL", "WARNING")
    os.environ["BRAIN_ENABLE_WRITE_EXECUTION"] = "true"
    import psycopg

    parts = urlsplit(bench_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class World:
    """A studio with an operator and two approvers, and a write-pilot hub aimed at the peer."""

    def __init__(self) -> None:

        from brain.models import Role
        from connectors.models import ConnectorConfig
        from connectors.services import connector_config_create
        from governance.actors import Actor
        from tests.factories import MembershipFactory, StudioFactory, UserFactory
        from tests.peers.hubitat_peer import HubitatPeer

        self.peer = HubitatPeer(device_count=6).start()
        os.environ[HUB_TOKEN_ENV] = self.peer.token
        self.studio = StudioFactory(slug="bench-kiln", name="Bench Kiln")
        people = {}
        for username, role in (
            ("otto", Role.OPERATOR),
            ("anna", Role.APPROVER),
            ("ada", Role.ADMIN),
        ):
            user = UserFactory(username=username, password="bench-only-password")
            MembershipFactory(user=user, studio=self.studio, role=role)
            people[username] = Actor.staff(user)
        self.operator, self.approver, self.admin = people["otto"], people["anna"], people["ada"]
        self.hub = connector_config_create(
            studio_id=self.studio.pk,
            kind="hubitat",
            name="hub1",
            settings={
                "host": self.peer.url,
                "app_id": self.peer.app_id,
                "timeout": 2,
                "retry_attempts": 1,
                "events_per_device": 0,
                "command_allowlist": {"103": ["on", "off"]},
            },
            secret_env={"token": HUB_TOKEN_ENV},
            mode=ConnectorConfig.Mode.WRITE_PILOT,
        )
        self._flips = 0

    def submitted(self) -> Any:
        from governance.services.proposals import proposal_submit

        self._flips += 1
        return proposal_submit(
            studio=self.studio,
            capability_id="hubitat.device.command",
            input={
                "connector": "hub1",
                "device_id": "103",
                "command": "on" if self._flips % 2 else "off",
            },
            rationale="Benchmark: switch the kiln room fan",
            actor=self.operator,
        )

    def approve(self, proposal: Any, approver: Any) -> None:
        from governance.services.approvals import approval_grant

        approval_grant(
            proposal_id=proposal.pk, actor=approver, rationale="Benchmark approval, checked"
        )

    def close(self) -> None:
        self.peer.stop()


# 1. approve → executed through a worker subprocess ---------------------------------------


def _start_worker(log_path: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BRAIN_LOG_LEVEL": "WARNING"}
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "studio_brain",
        "worker",
        "--pool",
        "solo",
        "--queues",
        "execute",
        "--without-mingle",
        "--without-gossip",
        "--hostname",
        f"bench-execution-{os.getpid()}@%h",
        "--loglevel",
        "WARNING",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    from studio_brain.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited; see {log_path}")
        replies = app.control.ping(
            destination=[f"bench-execution-{os.getpid()}@{os.uname().nodename}"], timeout=0.5
        )
        if replies:
            return process
    process.terminate()
    raise RuntimeError(f"the worker did not answer a ping within 60 s; see {log_path}")


def bench_approve_to_executed(world: World, runs: int) -> dict[str, Any]:
    from governance.enums import ProposalStatus
    from governance.models import Proposal
    from governance.services.execution import proposal_execute

    timings: list[float] = []
    failures = 0
    writes_before = world.peer.stats.writes
    for _ in range(runs):
        proposal = world.submitted()
        world.approve(proposal, world.approver)
        started = time.perf_counter()
        world.approve(proposal, world.admin)  # the approval that reaches the quorum
        proposal_execute(proposal_id=proposal.pk, actor=world.operator)
        deadline = started + 30
        status = ""
        while time.perf_counter() < deadline:
            status = Proposal.objects.filter(pk=proposal.pk).values_list("status", flat=True)[0]
            if status in (ProposalStatus.EXECUTED, ProposalStatus.FAILED):
                break
            time.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - started
        if status != ProposalStatus.EXECUTED:
            failures += 1
        timings.append(elapsed)
    return {
        "runs": runs,
        "failures": failures,
        "peer_writes": world.peer.stats.writes - writes_before,
        "p50_ms": statistics.median(timings) * 1000,
        "p95_ms": _percentile(timings, 0.95) * 1000,
        "max_ms": max(timings) * 1000,
    }


# 2. the gateway decision vs a bare round trip --------------------------------------------------


def bench_decision(world: World, decisions: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.services.execution import proposal_execute
    from studio_brain.celery import app

    ready = []
    for _ in range(decisions + 1):
        proposal = world.submitted()
        world.approve(proposal, world.approver)
        world.approve(proposal, world.admin)
        ready.append(proposal)
    with CaptureQueriesContext(connection) as captured:
        proposal_execute(proposal_id=ready[0].pk, actor=world.operator)
    decision_times = []
    for proposal in ready[1:]:
        started = time.perf_counter()
        proposal_execute(proposal_id=proposal.pk, actor=world.operator)
        decision_times.append(time.perf_counter() - started)
    from django.db import transaction

    from governance.tasks import run_execution

    publish_times = []
    for _ in range(decisions):
        started = time.perf_counter()
        run_execution.apply_async(args=(0,), queue="execute")
        publish_times.append(time.perf_counter() - started)
    app.control.purge()  # no worker runs these: nothing is sent to the hub
    bare_times, write_times = [], []
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_ping (n integer)")
        for _ in range(decisions):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            bare_times.append(time.perf_counter() - started)
        for _ in range(decisions):
            started = time.perf_counter()
            with transaction.atomic():
                cursor.execute("INSERT INTO bench_ping VALUES (1)")
            write_times.append(time.perf_counter() - started)
    decision_p50, decision_p99 = (
        statistics.median(decision_times),
        _percentile(decision_times, 0.99),
    )
    bare_p50, bare_p99 = statistics.median(bare_times), _percentile(bare_times, 0.99)
    return {
        "decisions": decisions,
        "queries": len(captured.captured_queries),
        "decision_p50_ms": decision_p50 * 1000,
        "decision_p99_ms": decision_p99 * 1000,
        "bare_p50_ms": bare_p50 * 1000,
        "bare_p99_ms": bare_p99 * 1000,
        "ratio_p50": decision_p50 / bare_p50,
        "ratio_p99": decision_p99 / bare_p99,
        "publish_p50_ms": statistics.median(publish_times) * 1000,
        "write_p50_ms": statistics.median(write_times) * 1000,
        "ratio_write_p50": decision_p50 / statistics.median(write_times),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=300)
    args = parser.parse_args(argv)
    _setup_django()
    from studio_brain.celery import app

    app.control.purge()
    world = World()
    figures: dict[str, Any] = {}
    log_path = os.path.join(tempfile.gettempdir(), f"bench-execution-worker-{os.getpid()}.log")
    worker = _start_worker(log_path)
    try:
        flow = bench_approve_to_executed(world, args.runs)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    figures["approve_to_executed"] = flow
    print(
        f"approve -> executed (Hubitat command, 2 approvers, Celery worker subprocess on Redis), "
        f"{flow['runs']} runs: p50 {flow['p50_ms']:.0f} ms, p95 {flow['p95_ms']:.0f} ms, "
        f"max {flow['max_ms']:.0f} ms (goal p95 <= 1000 ms); {flow['failures']} not executed; "
        f"the hub saw {flow['peer_writes']} commands"
    )
    decision = bench_decision(world, args.decisions)
    figures["decision"] = decision
    print(
        f"gateway decision (allowed execute, every check, audit append, commit, task publish), "
        f"{decision['decisions']} decisions: {decision['queries']} queries, "
        f"p50 {decision['decision_p50_ms']:.2f} ms, p99 {decision['decision_p99_ms']:.2f} ms; "
        f"bare SELECT 1 round trip p50 {decision['bare_p50_ms']:.3f} ms, "
        f"p99 {decision['bare_p99_ms']:.3f} ms; ratio p50 {decision['ratio_p50']:.0f}x, "
        f"p99 {decision['ratio_p99']:.0f}x; for scale: one committed INSERT p50 "
        f"{decision['write_p50_ms']:.2f} ms (decision = {decision['ratio_write_p50']:.1f}x), "
        f"one task publish to Redis p50 {decision['publish_p50_ms']:.2f} ms"
    )
    world.close()
    sys.stdout.flush()
    return figures


if __name__ == "__main__":
    main()
