"""Executions through a real Celery worker on Redis, against the real peers; and many
executors (threads on real Postgres) racing for one approved proposal."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connections
from django.utils import timezone

from governance.actors import Actor
from governance.enums import ExecutionStatus, ProposalStatus
from governance.errors import Denied
from governance.models import AuditEvent, Execution
from governance.reasons import ReasonCode
from governance.services.execution import proposal_execute
from governance.services.execution_run import execution_run
from governance.tasks import executions_reconcile
from tests.governance.pilots import (
    NOTE,
    SWITCH,
    VACUUM_START,
    WAIT_SECONDS,
    approved,
    firestore_pilot,
    hub_pilot,
    vacuum_pilot,
    wait_until_finished,
    writes,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RACERS = 20


def execute(proposal, user) -> Execution:
    return proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(user))


def race(work, count: int = RACERS) -> list:
    """``work(index)`` in ``count`` threads released together; returns results or errors."""
    results: list = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait(timeout=WAIT_SECONDS)
            results[index] = work(index)
        except Exception as error:  # kept and asserted by the caller
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS * 2)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_a_real_worker_switches_the_device_and_executes_the_proposal(
    staff, settings, hubitat_peer, monkeypatch, celery_worker
):
    writes(settings)
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = wait_until_finished(execute(proposal, staff.operator).pk)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert hubitat_peer.stats.writes == 1
    assert hubitat_peer.devices[3]["attributes"]["switch"] == "on"
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXECUTED
    assert list(
        AuditEvent.objects.filter(studio=staff.studio)
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == [
        "proposal.submitted",
        "approval.granted",
        "approval.granted",
        "execution.allowed",
        "execution.succeeded",
    ]


def test_a_real_worker_writes_the_firestore_note(staff, settings, firestore_peer, celery_worker):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = approved(staff, "firestore.ops_note.append", NOTE)
    execution = wait_until_finished(execute(proposal, staff.operator).pk)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert execution.result["note_id"] == f"{proposal.pk}__{execution.idempotency_key}"
    assert firestore_peer.document_count() == 2


def test_a_real_worker_starts_the_vacuum(
    staff, settings, roborock_peer, monkeypatch, celery_worker
):
    writes(settings)
    vacuum_pilot(staff.studio, roborock_peer, monkeypatch)
    proposal = approved(staff, "roborock.device.command", VACUUM_START)
    execution = wait_until_finished(execute(proposal, staff.operator).pk)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert roborock_peer.writes == 1
    assert execution.pre_state["state"] == 8 and execution.post_state["state"] == 5


def test_twenty_concurrent_executors_make_exactly_one_external_write(
    staff, settings, hubitat_peer, monkeypatch, celery_worker
):
    writes(settings)
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    people = [staff.operator, staff.approver, staff.admin]

    results = race(lambda index: execute(proposal, people[index % len(people)]))

    allowed = [r for r in results if isinstance(r, Execution)]
    denials = [r for r in results if isinstance(r, Denied)]
    assert len(allowed) == 1 and len(denials) == RACERS - 1, results
    assert {d.code for d in denials} == {ReasonCode.EXECUTION_EXISTS}
    execution = wait_until_finished(allowed[0].pk)
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert hubitat_peer.stats.writes == 1  # the peer saw exactly one command
    actions = list(
        AuditEvent.objects.filter(studio=staff.studio, sequence__gt=3).values_list(
            "action", flat=True
        )
    )
    assert actions.count("execution.allowed") == 1
    assert actions.count("execution.denied") == RACERS - 1
    assert actions.count("execution.succeeded") == 1


def test_twenty_deliveries_of_one_execution_send_one_write(
    staff, settings, firestore_peer, hubitat_peer, monkeypatch
):
    writes(settings)
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = execute(proposal, staff.operator)

    results = race(lambda index: execution_run(execution_id=execution.pk, worker=f"w{index}"))

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r is not None for r in results) == 1
    assert hubitat_peer.stats.writes == 1
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED and execution.attempts == RACERS


def test_a_queued_execution_whose_task_was_lost_is_sent_again_by_reconcile(
    staff, settings, hubitat_peer, monkeypatch
):
    from celery.contrib.testing.worker import start_worker

    from studio_brain.celery import app

    writes(settings)
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = execute(proposal, staff.operator)
    app.control.purge()  # the broker lost the task message (this test's own Redis database)
    assert hubitat_peer.stats.writes == 0

    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=WAIT_SECONDS):
        report = executions_reconcile(now=timezone.now() + dt.timedelta(minutes=5))
        settled = wait_until_finished(execution.pk)

    assert report["requeued"] == [execution.pk]
    assert settled.status == ExecutionStatus.SUCCEEDED
    assert hubitat_peer.stats.writes == 1


def test_executions_waiting_in_the_queue_when_a_switch_is_engaged_are_all_denied(
    staff, settings, hubitat_peer, monkeypatch
):
    from governance.services.kill_switches import kill_switch_engage
    from tests.conftest import running_worker

    writes(settings)
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    waiting = [
        execute(
            approved(staff, "hubitat.device.command", {**SWITCH, "command": command}),
            staff.operator,
        )
        for command in ("on", "off", "on")
    ]  # published to the execute queue; no worker is running yet
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Smoke alarm in the kiln room")
    with running_worker():
        settled = [wait_until_finished(execution.pk) for execution in waiting]
    assert [(row.status, row.error_code) for row in settled] == [
        (ExecutionStatus.FAILED, ReasonCode.BLOCKED_BY_POLICY)
    ] * 3
    assert hubitat_peer.stats.writes == 0
