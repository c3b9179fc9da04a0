"""A worker that vanished mid-execution: the reconcile job reads the outside back and settles
the row; it never sends the write again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from connectors.runtime import build_connector
from governance.actors import Actor
from governance.enums import ExecutionStatus, ProposalStatus
from governance.models import AuditEvent, Execution
from governance.services.execution import proposal_execute
from governance.services.execution_reconcile import execution_reconcile_due
from governance.write_paths import execution_intent
from tests.governance.pilots import NOTE, SWITCH, approved, firestore_pilot, hub_pilot, writes

pytestmark = pytest.mark.django_db


def crashed(execution: Execution, *, minutes_ago: int = 10) -> Execution:
    """What a worker leaves behind when it dies after claiming the row."""
    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    Execution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.RUNNING,
        started_at=started,
        deadline_at=started + dt.timedelta(seconds=execution.timeout_seconds),
    )
    execution.refresh_from_db()
    return execution


@pytest.fixture
def hub(staff, hubitat_peer, monkeypatch, settings):
    writes(settings)
    return hub_pilot(staff.studio, hubitat_peer, monkeypatch)


def allowed(staff, capability_id, input) -> Execution:
    proposal = approved(staff, capability_id, input)
    return proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(staff.operator))


def test_a_write_the_dead_worker_sent_is_found_applied_and_not_sent_again(staff, hub, hubitat_peer):
    execution = crashed(allowed(staff, "hubitat.device.command", SWITCH))
    # The worker sent the command before it died.
    build_connector(hub).execute(execution_intent(execution))
    assert hubitat_peer.stats.writes == 1

    report = execution_reconcile_due()

    assert report["succeeded"] == [execution.pk]
    assert hubitat_peer.stats.writes == 1  # read back, never resent
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED and execution.reconciled
    assert execution.post_state["switch"] == "on"
    assert execution.proposal.status == ProposalStatus.EXECUTED
    event = AuditEvent.objects.filter(studio=staff.studio).order_by("-sequence").first()
    assert event.action == "execution.succeeded" and event.metadata["reconciled"] is True
    assert event.metadata["worker"] == "reconcile"


def test_a_write_the_dead_worker_never_sent_fails_without_a_retry(staff, hub, hubitat_peer):
    execution = crashed(allowed(staff, "hubitat.device.command", SWITCH))
    report = execution_reconcile_due()
    assert report["failed"] == [execution.pk]
    assert hubitat_peer.stats.writes == 0
    execution.refresh_from_db()
    assert (execution.status, execution.error_code) == ("failed", "NOT_APPLIED")
    assert execution.proposal.status == ProposalStatus.FAILED
    event = AuditEvent.objects.filter(studio=staff.studio).order_by("-sequence").first()
    assert (event.action, event.metadata["error_code"]) == ("execution.failed", "NOT_APPLIED")


def test_a_firestore_note_the_dead_worker_committed_is_found_by_its_document_id(
    staff, settings, firestore_peer
):
    writes(settings)
    config = firestore_pilot(staff.studio)
    execution = crashed(allowed(staff, "firestore.ops_note.append", NOTE))
    build_connector(config).execute(execution_intent(execution))
    firestore_peer.reset_counters()

    assert execution_reconcile_due()["succeeded"] == [execution.pk]
    assert firestore_peer.write_calls == 0
    execution.refresh_from_db()
    assert execution.post_state["document"].endswith(f"{execution.idempotency_key}")


def test_an_execution_within_its_deadline_is_left_to_its_worker(staff, hub):
    execution = crashed(allowed(staff, "hubitat.device.command", SWITCH), minutes_ago=0)
    assert execution_reconcile_due()["succeeded"] == []
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


def test_an_unreadable_target_leaves_the_row_for_the_next_run(staff, hub, hubitat_peer):
    execution = crashed(allowed(staff, "hubitat.device.command", SWITCH))
    hubitat_peer.inject(status=503)
    report = execution_reconcile_due()
    assert report["unsettled"] == [execution.pk]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    hubitat_peer.inject()
    assert execution_reconcile_due()["failed"] == [execution.pk]
