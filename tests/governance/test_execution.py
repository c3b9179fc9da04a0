"""The execution gateway: every check in order, each denial with its code and its audit event,
and the run against the real peers (called in-process here; test_execution_worker.py runs it
through a real Celery worker)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from connectors.models import ConnectorConfig
from connectors.sdk.canonical import canonical_hash
from governance.actors import Actor
from governance.enums import ExecutionStatus, ProposalStatus
from governance.errors import Denied
from governance.models import AuditEvent, Execution, Proposal
from governance.reasons import ReasonCode
from governance.services.approvals import approval_grant, approval_reject
from governance.services.execution import proposal_execute
from governance.services.execution_run import execution_run
from governance.services.kill_switches import (
    kill_switch_engage,
    kill_switch_release_confirm,
    kill_switch_release_request,
)
from tests.conftest import mirror_batches
from tests.factories import CapabilityFactory
from tests.governance.conftest import chain
from tests.governance.pilots import (
    NOTE,
    SWITCH,
    approve,
    approved,
    firestore_pilot,
    hub_pilot,
    submitted,
    writes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_admin(staff):
    from brain.models import Role
    from tests.factories import MembershipFactory, UserFactory

    return MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user


@pytest.fixture
def hub(staff, hubitat_peer, monkeypatch, settings):
    writes(settings)
    return hub_pilot(staff.studio, hubitat_peer, monkeypatch)


def execute(proposal, user, **kwargs):
    return proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(user), **kwargs)


def denied(proposal, actor, **kwargs) -> Denied:
    with pytest.raises(Denied) as caught:
        proposal_execute(proposal_id=proposal.pk, actor=actor, **kwargs)
    assert not Execution.objects.filter(proposal=proposal).exists()
    last = AuditEvent.objects.filter(studio=proposal.studio).order_by("-sequence").first()
    assert (last.action, last.reason_code, last.target_id) == (
        "execution.denied",
        caught.value.code,
        str(proposal.pk),
    )
    assert last.metadata["message"] == caught.value.message
    return caught.value


# -- allowed ------------------------------------------------------------------------------


def test_an_allowed_execution_is_queued_audited_and_sent_after_commit(
    staff, hub, hubitat_peer, django_capture_on_commit_callbacks
):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        execution = execute(proposal, staff.operator)
    assert len(callbacks) == 1  # the task is queued only once the decision has committed
    assert execution.status == ExecutionStatus.QUEUED
    assert (execution.operation, execution.target, execution.params) == (
        "device.command",
        "103",
        {"command": "on"},
    )
    assert execution.connector == hub and execution.input_hash == proposal.input_hash
    assert hubitat_peer.stats.writes == 0
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.granted", "ALLOWED"),
        (3, "approval.granted", "ALLOWED"),
        (4, "execution.allowed", "ALLOWED"),
    ]
    allowed = AuditEvent.objects.get(studio=staff.studio, sequence=4)
    assert allowed.metadata["idempotency_key"] == str(execution.idempotency_key)
    assert allowed.input_hash == proposal.input_hash


def test_the_run_sends_the_command_once_and_executes_the_proposal(staff, hub, hubitat_peer):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = execute(proposal, staff.operator)
    settled = execution_run(execution_id=execution.pk, worker="test")
    again = execution_run(execution_id=execution.pk, worker="a redelivery")
    assert again is None
    assert hubitat_peer.stats.writes == 1
    settled.refresh_from_db()
    assert settled.status == ExecutionStatus.SUCCEEDED and settled.attempts == 2
    assert settled.pre_state["switch"] == "off" and settled.post_state["switch"] == "on"
    assert settled.pre_state_hash == canonical_hash(settled.pre_state)
    assert settled.post_state_hash == canonical_hash(settled.post_state)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXECUTED
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.granted", "ALLOWED"),
        (3, "approval.granted", "ALLOWED"),
        (4, "execution.allowed", "ALLOWED"),
        (5, "execution.succeeded", "ALLOWED"),
    ]
    event = AuditEvent.objects.filter(studio=staff.studio).order_by("-sequence").first()
    assert event.approval_state == ProposalStatus.EXECUTED
    assert event.output_hash == settled.output_hash and len(event.output_hash) == 64
    assert event.metadata["pre_state_hash"] == settled.pre_state_hash
    assert event.metadata["post_state_hash"] == settled.post_state_hash
    assert event.actor_id == str(staff.operator.pk)


def test_a_firestore_note_is_written_and_a_repeat_of_the_same_key_is_replayed(
    staff, settings, firestore_peer
):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = approved(staff, "firestore.ops_note.append", NOTE)
    execution = execute(proposal, staff.operator)
    settled = execution_run(execution_id=execution.pk)
    note_id = f"{proposal.pk}__{execution.idempotency_key}"
    assert settled.status == ExecutionStatus.SUCCEEDED and not settled.replayed
    assert settled.result["note_id"] == note_id
    assert settled.pre_state["exists"] is False and settled.post_state["exists"] is True
    assert firestore_peer.document_count() == 2
    # The same execution's intent again (as a second worker would send it): replayed.
    from connectors.runtime import build_connector
    from governance.write_paths import execution_intent

    outcome = build_connector(settled.connector).execute(execution_intent(settled))
    assert outcome.replayed and firestore_peer.document_count() == 2


def test_a_write_whose_answer_was_lost_is_read_back_and_counts_as_applied(staff, hub, hubitat_peer):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = execute(proposal, staff.operator)
    # The first read and the command are answered 500 (the hub acts on the command anyway).
    hubitat_peer.inject(status=500, remaining=2)
    settled = execution_run(execution_id=execution.pk)
    assert settled.status == ExecutionStatus.SUCCEEDED and settled.reconciled
    assert settled.error_code == "UNAVAILABLE" and settled.post_state["switch"] == "on"
    assert hubitat_peer.stats.writes == 1


def test_a_write_that_fails_and_does_not_show_is_failed_without_a_retry(staff, hub, hubitat_peer):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = execute(proposal, staff.operator)
    hubitat_peer.inject(reset=True)
    settled = execution_run(execution_id=execution.pk)
    assert settled.status == ExecutionStatus.FAILED and settled.error_code == "UNAVAILABLE"
    assert hubitat_peer.stats.writes == 0
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.FAILED
    failed = AuditEvent.objects.filter(studio=staff.studio).order_by("-sequence").first()
    assert failed.action == "execution.failed" and failed.metadata["error_code"] == "UNAVAILABLE"


def test_a_kill_switch_engaged_after_queueing_stops_the_worker_before_it_writes(
    staff, hub, hubitat_peer
):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = execute(proposal, staff.operator)
    kill_switch_engage(actor=Actor.staff(staff.admin), reason="Hub firmware is misbehaving")
    before = hubitat_peer.stats.requests  # the dry run at submission read the device
    settled = execution_run(execution_id=execution.pk)
    assert settled.status == ExecutionStatus.FAILED
    assert settled.error_code == ReasonCode.BLOCKED_BY_POLICY
    assert hubitat_peer.stats.requests == before
    last = AuditEvent.objects.filter(studio=staff.studio).order_by("-sequence").first()
    assert (last.action, last.reason_code) == ("execution.failed", "BLOCKED_BY_POLICY")


def test_writes_switched_off_after_queueing_stop_the_worker_too(staff, hub, hubitat_peer, settings):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = execute(proposal, staff.operator)
    writes(settings, False)
    before = hubitat_peer.stats.requests
    settled = execution_run(execution_id=execution.pk)
    assert (settled.status, settled.error_code) == ("failed", "WRITES_DISABLED")
    assert hubitat_peer.stats.requests == before


def test_an_approval_window_does_not_expire_a_proposal_that_is_executing(staff, hub):
    from governance.services.proposals import proposal_expire_due

    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execute(proposal, staff.operator)
    later = timezone.now() + django_settings.BRAIN.approval_window + dt.timedelta(minutes=1)
    assert proposal_expire_due(actor=Actor.system("expire_proposals"), now=later) == []


# -- denials, in the gateway's order -----------------------------------------------------------


def test_a_capability_gone_from_the_registry_is_denied(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    CapabilityFactory(
        id="hubitat.device.retired",
        target="hubitat",
        description="gone",
        mode="write",
        risk=30,
        requires_approval=True,
        approvals_required=2,
        owner="x",
        rollback_plan="x",
        escalation_path="x",
        synced_at=timezone.now(),
    )
    Proposal.objects.filter(pk=proposal.pk).update(capability_id="hubitat.device.retired")
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.CAPABILITY_UNKNOWN
    assert "no longer in the capability registry" in denial.message


def test_viewers_may_not_execute(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    assert denied(proposal, Actor.staff(staff.viewer)).code == ReasonCode.ROLE_REQUIRED


def test_staff_of_another_studio_may_not_execute(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    assert denied(proposal, Actor.staff(staff.outsider)).code == ReasonCode.TENANT_MISMATCH


def test_a_proposal_executed_from_another_studio_is_a_tenant_mismatch(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    denial = denied(proposal, Actor.staff(staff.operator), studio=staff.other_studio)
    assert denial.code == ReasonCode.TENANT_MISMATCH


def test_an_agent_without_a_delegation_is_denied_delegation_missing(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    denial = denied(proposal, Actor.agent("ops-bot"))
    assert denial.code == ReasonCode.DELEGATION_MISSING and denial.detail["decision_id"]


def test_system_jobs_may_not_execute_what_needs_approval(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    assert denied(proposal, Actor.system("drift")).code == ReasonCode.ACTOR_NOT_ALLOWED


@pytest.mark.parametrize("capability_id", [None, "hubitat.device.command"])
def test_a_kill_switch_blocks_execution_until_two_admins_release_it(
    staff, hub, hubitat_peer, capability_id, second_admin
):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    admin = Actor.staff(staff.admin)
    kill_switch_engage(
        actor=admin, reason="Hub firmware update tonight", capability_id=capability_id
    )
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.BLOCKED_BY_POLICY
    assert "ada" in denial.message and "Hub firmware update tonight" in denial.message
    kill_switch_release_request(
        actor=admin, reason="Firmware update finished", capability_id=capability_id
    )
    assert denied(proposal, Actor.staff(staff.operator)).code == ReasonCode.BLOCKED_BY_POLICY
    kill_switch_release_confirm(
        actor=Actor.staff(second_admin),
        reason="Checked the hub, it is fine",
        capability_id=capability_id,
    )
    assert execute(proposal, staff.operator).status == ExecutionStatus.QUEUED


def test_a_studio_switch_blocks_this_studio_and_a_connector_switch_its_connector(
    staff, hub, hubitat_peer
):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Hub rewiring this morning", connector=hub
    )
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.BLOCKED_BY_POLICY and "connector hub1" in denial.message
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Open studio day, hands off", studio=staff.studio
    )
    denial = denied(proposal, Actor.staff(staff.operator))
    assert "studio north-kiln" in denial.message and "Open studio day" in denial.message


def test_a_switch_on_another_studio_does_not_block(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    kill_switch_engage(
        actor=Actor.staff(staff.outsider),
        reason="Their studio is closed",
        studio=staff.other_studio,
    )
    assert execute(proposal, staff.operator).status == ExecutionStatus.QUEUED


def test_a_kill_switch_on_another_capability_does_not_block(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    kill_switch_engage(
        actor=Actor.staff(staff.admin),
        reason="Vacuum keeps getting stuck",
        capability_id="roborock.device.command",
    )
    assert execute(proposal, staff.operator).status == ExecutionStatus.QUEUED


def test_a_pending_proposal_needs_approval(staff, hub):
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    assert denied(proposal, Actor.staff(staff.operator)).code == ReasonCode.APPROVAL_REQUIRED


def test_one_approval_is_not_the_quorum_of_a_high_risk_capability(staff, hub):
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    approval_grant(
        proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Looks right to me"
    )
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.APPROVAL_REQUIRED
    assert denial.message.startswith("1 of 2 required approvals")


def test_a_rejected_proposal_is_denied(staff, hub):
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    approval_reject(
        proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Not during firing"
    )
    assert denied(proposal, Actor.staff(staff.operator)).code == ReasonCode.PROPOSAL_REJECTED


def test_a_proposal_runs_once(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    first = execute(proposal, staff.operator)
    denial = denied_after_first(proposal, staff)
    assert denial.code == ReasonCode.EXECUTION_EXISTS and str(first.pk) in denial.message


def denied_after_first(proposal, staff) -> Denied:
    with pytest.raises(Denied) as caught:
        execute(proposal, staff.approver)
    assert Execution.objects.filter(proposal=proposal).count() == 1
    return caught.value


def test_an_expired_proposal_is_denied_with_the_expiry_it_met(staff, hub):
    from governance.services.proposals import proposal_expire_due

    pending = submitted(staff, "hubitat.device.command", SWITCH)
    ready = approved(staff, "hubitat.device.command", {**SWITCH, "command": "off"})
    later = timezone.now() + django_settings.BRAIN.proposal_ttl + dt.timedelta(minutes=1)
    assert sorted(proposal_expire_due(actor=Actor.system("expire_proposals"), now=later)) == [
        pending.pk,
        ready.pk,
    ]
    assert denied(pending, Actor.staff(staff.operator)).code == ReasonCode.PROPOSAL_EXPIRED
    assert denied(ready, Actor.staff(staff.operator)).code == ReasonCode.APPROVAL_EXPIRED


def test_a_changed_input_is_denied_input_changed(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    Proposal.objects.filter(pk=proposal.pk).update(input={**SWITCH, "device_id": "100"})
    assert denied(proposal, Actor.staff(staff.operator)).code == ReasonCode.INPUT_CHANGED


def test_an_approval_older_than_the_window_is_denied(staff, hub):
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    window = django_settings.BRAIN.approval_window
    with time_machine.travel(timezone.now() + window - dt.timedelta(minutes=1), tick=False):
        assert execute(proposal, staff.operator).status == ExecutionStatus.QUEUED
    Execution.objects.filter(proposal=proposal).delete()
    with time_machine.travel(timezone.now() + window + dt.timedelta(minutes=1), tick=False):
        denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.APPROVAL_EXPIRED


def test_writes_are_off_by_default(staff, hubitat_peer, monkeypatch, settings):
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    assert settings.BRAIN.enable_write_execution is False
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.WRITES_DISABLED
    assert "BRAIN_ENABLE_WRITE_EXECUTION" in denial.message


def test_a_read_only_connector_is_writes_disabled(staff, hubitat_peer, monkeypatch, settings):
    writes(settings)
    hub_pilot(staff.studio, hubitat_peer, monkeypatch, mode=ConnectorConfig.Mode.READ_ONLY)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.WRITES_DISABLED and "read-only" in denial.message


def test_a_command_off_the_allowlist_is_writes_disabled(staff, hub):
    # Submission refuses a device off the allowlist (governance/targets.py); the allowlist
    # may change after the approval, and then the gateway refuses.
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    hub.settings = {**hub.settings, "command_allowlist": {"100": ["on", "off"]}}
    hub.save(update_fields=["settings"])
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.WRITES_DISABLED and "allowlist" in denial.message


def test_a_capability_without_a_pilot_is_writes_disabled(staff, hub):
    proposal = approved(
        staff, "firestore.batch.close", {"batch_id": "b-1", "reason": "All pieces collected"}
    )
    denial = denied(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.WRITES_DISABLED and "no write path" in denial.message


def test_the_hourly_quota_counts_executions_per_studio_and_capability(
    staff, settings, firestore_peer
):
    writes(settings)
    firestore_pilot(staff.studio)
    limit = 8  # docs/domain.md: firestore.ops_note.append, 8 calls per hour
    start = timezone.now()
    mirror_batches(staff.studio, *(f"quota-{index}" for index in range(limit)))
    for index in range(limit):
        proposal = approved(
            staff, "firestore.ops_note.append", {**NOTE, "batch_id": f"quota-{index}"}
        )
        execute(proposal, staff.operator)
    over = approved(staff, "firestore.ops_note.append", NOTE)
    denial = denied(over, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.RATE_LIMITED and "the limit is 8" in denial.message
    with time_machine.travel(start + dt.timedelta(hours=1, seconds=1), tick=False):
        assert execute(over, staff.operator).status == ExecutionStatus.QUEUED


def test_the_first_failing_check_in_the_order_is_the_reason(staff, hubitat_peer, monkeypatch):
    # Writes are off AND a kill switch is on AND it is not approved: the kill switch comes first.
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Stop everything for now")
    assert denied(proposal, Actor.staff(staff.operator)).code == ReasonCode.BLOCKED_BY_POLICY


def test_a_denial_is_audited_even_though_nothing_else_commits(staff, hub):
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    before = AuditEvent.objects.count()
    denied(proposal, Actor.staff(staff.operator))
    assert AuditEvent.objects.count() == before + 1
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL


def test_the_gateway_decision_costs_a_constant_number_of_queries(
    staff, settings, firestore_peer, django_assert_max_num_queries
):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = approved(staff, "firestore.ops_note.append", NOTE)
    with django_assert_max_num_queries(16):
        execute(proposal, staff.operator)


def test_approve_then_execute_keeps_the_proposal_approved_until_the_run(staff, hub):
    proposal = approve(staff, submitted(staff, "hubitat.device.command", SWITCH))
    execute(proposal, staff.operator)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
