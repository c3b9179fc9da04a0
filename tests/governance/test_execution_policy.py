"""The gateway's policy wiring: agent delegations (decided at execution and again right before
the write), exemptions standing in for approval, and the per-actor quota on Redis."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.enums import ExecutionStatus, ProposalStatus
from governance.errors import Denied
from governance.identity import ResolvedActor
from governance.models import (
    AuditEvent,
    DecisionKind,
    Execution,
    ExemptionEventKind,
    PolicyDecision,
)
from governance.policies.decision import ALLOWED, Decision
from governance.reasons import ReasonCode
from governance.services.decisions import decision_record
from governance.services.delegations import delegation_revoke_local
from governance.services.execution import proposal_execute
from governance.services.execution_run import execution_run
from governance.services.exemptions import exemption_approve, exemption_request
from tests.conftest import mirror_batches
from tests.factories import ExemptionEventFactory, ExemptionFactory, MembershipFactory, UserFactory
from tests.governance.pilots import (
    NOTE,
    SWITCH,
    approved,
    firestore_pilot,
    hub_pilot,
    submitted,
    writes,
)
from tests.policy_support import make_agent, make_delegation

pytestmark = pytest.mark.django_db

ALL = ("capability:*:execute",)


@pytest.fixture
def hub(staff, hubitat_peer, monkeypatch, settings):
    writes(settings)
    return hub_pilot(staff.studio, hubitat_peer, monkeypatch)


@pytest.fixture
def bot(staff):
    return make_agent(staff.studio, "ops-bot", "owner-ada")


def as_resolved(agent) -> ResolvedActor:
    return ResolvedActor(
        actor_type="agent", actor_id=agent.agent_id, owner=agent.owner_id, studio=agent.studio
    )


def denied_for(proposal, actor, **kwargs) -> Denied:
    with pytest.raises(Denied) as caught:
        proposal_execute(proposal_id=proposal.pk, actor=actor, **kwargs)
    assert not Execution.objects.filter(proposal=proposal).exists()
    return caught.value


def last_event(studio, action):
    return AuditEvent.objects.filter(studio=studio, action=action).order_by("-sequence").first()


def submitted_for(proposal, owner_id):
    """Record that an agent submitted ``proposal`` on ``owner_id``'s behalf (as the API does)."""
    decision_record(
        studio_id=proposal.studio_id,
        kind=DecisionKind.SUBMISSION,
        actor=Actor.agent("ops-bot"),
        decision=Decision(allowed=True, code=ALLOWED, message="ok"),
        capability_id=proposal.capability_id,
        resource_owner_id=owner_id,
        proposal_id=proposal.pk,
    )


# -- delegations at the gateway ---------------------------------------------------------------


def test_an_agent_with_a_delegation_from_the_owner_executes_and_the_decision_is_stored(
    staff, hub, bot
):
    make_delegation(staff.studio, scopes=ALL)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = proposal_execute(proposal_id=proposal.pk, actor=as_resolved(bot))
    assert execution.status == ExecutionStatus.QUEUED
    assert (execution.requested_by_type, execution.owner_id) == ("agent", "owner-ada")
    decision = PolicyDecision.objects.get(proposal=proposal, kind=DecisionKind.DELEGATION)
    assert decision.allowed and decision.resource_owner_id == "owner-ada"
    assert decision.trace.count() >= 5


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("none", ReasonCode.DELEGATION_MISSING),
        ("expired", ReasonCode.DELEGATION_EXPIRED),
        ("revoked", ReasonCode.DELEGATION_REVOKED),
        ("scope", ReasonCode.DELEGATION_SCOPE_MISSING),
        ("other_owner", ReasonCode.DELEGATION_OWNER_MISMATCH),
        ("other_agent", ReasonCode.DELEGATION_ACTOR_MISMATCH),
    ],
)
def test_each_delegation_denial_is_stored_with_its_trace_and_linked_from_the_audit(
    staff, hub, bot, setup, code
):
    now = timezone.now()
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    presented = None
    if setup == "expired":
        make_delegation(
            staff.studio,
            scopes=ALL,
            issued_at=now - dt.timedelta(days=3),
            expires_at=now - dt.timedelta(hours=1),
        )
    elif setup == "revoked":
        make_delegation(staff.studio, scopes=ALL, cloud_revoked_at=now - dt.timedelta(minutes=5))
    elif setup == "scope":
        make_delegation(staff.studio, scopes=("capability:firestore.ops_note.append:execute",))
    elif setup == "other_owner":
        # Submitted for owner-bob's resources; the agent holds a delegation from owner-ada only.
        make_delegation(staff.studio, scopes=ALL)
        submitted_for(proposal, "owner-bob")
    elif setup == "other_agent":
        make_delegation(staff.studio, scopes=ALL)
        presented = make_delegation(staff.studio, "other-bot", scopes=ALL).pk
    denial = denied_for(proposal, as_resolved(bot), delegation_id=presented)
    assert denial.code == code
    decision = PolicyDecision.objects.get(pk=denial.detail["decision_id"])
    assert (decision.kind, decision.allowed, decision.code) == ("delegation", False, code)
    assert decision.proposal_id == proposal.pk
    assert any(step.passed is False for step in decision.trace.all())
    event = last_event(staff.studio, "execution.denied")
    assert (event.reason_code, event.metadata["decision_id"]) == (code, decision.pk)
    assert last_event(staff.studio, "delegation.denied").target_id == str(decision.pk)


def test_an_agent_named_without_its_token_is_resolved_from_its_row(staff, hub, bot):
    make_delegation(staff.studio, scopes=ALL)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = proposal_execute(proposal_id=proposal.pk, actor=Actor.agent("ops-bot"))
    assert execution.owner_id == "owner-ada"


# -- the worker decides the delegation again --------------------------------------------------


def test_an_execution_queued_before_its_delegation_expires_is_refused_when_run_after(
    staff, hub, hubitat_peer, bot
):
    now = timezone.now()
    make_delegation(staff.studio, scopes=ALL, expires_at=now + dt.timedelta(minutes=10))
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = proposal_execute(proposal_id=proposal.pk, actor=as_resolved(bot))
    with time_machine.travel(now + dt.timedelta(minutes=11), tick=False):
        settled = execution_run(execution_id=execution.pk)
    assert (settled.status, settled.error_code) == ("failed", ReasonCode.DELEGATION_EXPIRED)
    assert hubitat_peer.stats.writes == 0
    failed = last_event(staff.studio, "execution.failed")
    decision = PolicyDecision.objects.get(pk=failed.metadata["decision_id"])
    assert (decision.code, decision.allowed) == (ReasonCode.DELEGATION_EXPIRED, False)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.FAILED


def test_a_revocation_between_the_allow_and_the_run_refuses_the_run(staff, hub, hubitat_peer, bot):
    delegation = make_delegation(staff.studio, scopes=ALL)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = proposal_execute(proposal_id=proposal.pk, actor=as_resolved(bot))
    delegation_revoke_local(
        studio=staff.studio,
        delegation_id=delegation.pk,
        actor=Actor.staff(staff.admin),
        reason="The bot misread the firing schedule",
    )
    settled = execution_run(execution_id=execution.pk)
    assert (settled.status, settled.error_code) == ("failed", ReasonCode.DELEGATION_REVOKED)
    assert hubitat_peer.stats.writes == 0
    failed = last_event(staff.studio, "execution.failed")
    assert failed.reason_code == ReasonCode.DELEGATION_REVOKED
    assert "Checked again before sending" in failed.metadata["error"]


def test_a_delegation_still_in_force_at_the_run_lets_the_write_go(staff, hub, hubitat_peer, bot):
    make_delegation(staff.studio, scopes=ALL)
    proposal = approved(staff, "hubitat.device.command", SWITCH)
    execution = proposal_execute(proposal_id=proposal.pk, actor=as_resolved(bot))
    settled = execution_run(execution_id=execution.pk)
    assert settled.status == ExecutionStatus.SUCCEEDED and hubitat_peer.stats.writes == 1
    # Two delegation decisions: at the gateway and again at the run.
    assert PolicyDecision.objects.filter(proposal=proposal, allowed=True).count() == 2


# -- exemptions -------------------------------------------------------------------------------


@pytest.fixture
def exemption(staff):
    second = MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user
    requested = exemption_request(
        studio=staff.studio,
        capability_id="firestore.ops_note.append",
        justification="Kiln notes during the open studio week",
        expires_at=timezone.now() + dt.timedelta(days=3),
        actor=Actor.staff(staff.admin),
    )
    exemption_approve(studio=staff.studio, exemption_id=requested.pk, actor=Actor.staff(second))
    return requested


def test_an_exemption_lets_a_medium_risk_write_run_without_approval(
    staff, settings, firestore_peer, exemption
):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = submitted(staff, "firestore.ops_note.append", NOTE)
    assert proposal.status == ProposalStatus.PENDING_APPROVAL
    execution = proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(staff.operator))
    assert execution.approval_state == "exempt"
    allowed = last_event(staff.studio, "execution.allowed")
    assert allowed.approval_state == "exempt"
    assert allowed.metadata["exemption"] == exemption.pk
    settled = execution_run(execution_id=execution.pk)
    assert settled.status == ExecutionStatus.SUCCEEDED
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXECUTED


def test_without_an_exemption_the_same_write_needs_its_approval(staff, settings, firestore_peer):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = submitted(staff, "firestore.ops_note.append", NOTE)
    denial = denied_for(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.APPROVAL_REQUIRED


def test_a_high_risk_capability_is_never_exempt_whatever_rows_exist(staff, hub):
    # The services refuse to create it; a row slipped in by hand still counts for nothing.
    now = timezone.now()
    row = ExemptionFactory(
        studio=staff.studio,
        capability_id="hubitat.device.command",
        justification="Smuggled in past the services",
        expires_at=now + dt.timedelta(days=1),
        requested_by=staff.admin,
        created_at=now,
    )
    ExemptionEventFactory(
        exemption=row, kind=ExemptionEventKind.APPROVED, actor=staff.admin, occurred_at=now
    )
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    denial = denied_for(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.APPROVAL_REQUIRED
    with pytest.raises(Denied) as caught:
        exemption_request(
            studio=staff.studio,
            capability_id="hubitat.device.command",
            justification="Switch the kiln vent freely",
            expires_at=now + dt.timedelta(days=1),
            actor=Actor.staff(staff.admin),
        )
    assert caught.value.code == ReasonCode.EXEMPTION_NOT_ALLOWED


# -- the quota on Redis -----------------------------------------------------------------------


def test_the_per_actor_quota_on_redis_denies_over_the_budget_with_a_stored_decision(
    staff, settings, firestore_peer
):
    writes(settings)
    firestore_pilot(staff.studio)
    mirror_batches(staff.studio, *(f"quota-{index}" for index in range(8)))
    for index in range(8):
        proposal = approved(
            staff, "firestore.ops_note.append", {**NOTE, "batch_id": f"quota-{index}"}
        )
        proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(staff.operator))
    Execution.objects.filter(studio=staff.studio).update(
        queued_at=timezone.now() - dt.timedelta(hours=2)
    )  # the studio-wide Postgres count no longer sees them; Redis still does
    over = approved(staff, "firestore.ops_note.append", NOTE)
    denial = denied_for(over, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.RATE_LIMITED and denial.detail["retry_after"] > 0
    decision = PolicyDecision.objects.get(pk=denial.detail["decision_id"])
    assert (decision.kind, decision.code) == ("quota", ReasonCode.RATE_LIMITED)
    assert last_event(staff.studio, "rate_limit_triggered").target_id == str(decision.pk)


def test_redis_unreachable_denies_the_execution_fail_safe(
    staff, settings, firestore_peer, redis_down
):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = approved(staff, "firestore.ops_note.append", NOTE)
    denial = denied_for(proposal, Actor.staff(staff.operator))
    assert denial.code == ReasonCode.RATE_LIMIT_UNAVAILABLE
    decision = PolicyDecision.objects.get(pk=denial.detail["decision_id"])
    assert decision.code == ReasonCode.RATE_LIMIT_UNAVAILABLE
    event = last_event(staff.studio, "execution.denied")
    assert event.metadata["decision_id"] == decision.pk
