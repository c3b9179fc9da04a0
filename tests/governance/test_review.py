"""Withdraw an approval, cancel a proposal, bulk decisions, and the execution readiness the
cockpit shows (the gateway's own checks)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.actors import Actor
from governance.enums import Decision, ExecutionStatus, ProposalStatus, Risk
from governance.errors import Denied
from governance.models import Approval, AuditEvent, Execution, Proposal
from governance.reasons import ReasonCode
from governance.services.approvals import approval_grant, approval_withdraw
from governance.services.bulk_review import BULK_LIMIT, BulkVerb, approval_bulk_decide
from governance.services.execution import execution_readiness, proposal_execute
from governance.services.kill_switches import kill_switch_engage
from governance.services.proposals import proposal_cancel
from tests.factories import ProposalFactory
from tests.governance.conftest import chain
from tests.governance.pilots import firestore_pilot, writes

pytestmark = pytest.mark.django_db

WHY = "Checked against the kiln log"


def grant(proposal, user, rationale=WHY):
    return approval_grant(proposal_id=proposal.pk, actor=Actor.staff(user), rationale=rationale)


def withdraw(proposal, user, rationale="Kiln 2 is booked after all"):
    return approval_withdraw(proposal_id=proposal.pk, actor=Actor.staff(user), rationale=rationale)


def cancel(proposal, user, reason="Not needed any more"):
    return proposal_cancel(proposal_id=proposal.pk, actor=Actor.staff(user), reason=reason)


def status(proposal):
    proposal.refresh_from_db()
    return proposal.status


# -- withdraw -----------------------------------------------------------------------------


def test_withdrawing_the_quorum_approval_sends_the_proposal_back_to_pending(staff, submit):
    proposal = submit()
    grant(proposal, staff.approver)
    assert status(proposal) == ProposalStatus.APPROVED
    approval = withdraw(proposal, staff.approver)
    assert approval.decision == Decision.WITHDRAWN and approval.withdrawn_at is not None
    assert status(proposal) == ProposalStatus.PENDING_APPROVAL
    assert proposal.approved_at is None and proposal.decided_at is None
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.granted", "ALLOWED"),
        (3, "approval.withdrawn", "ALLOWED"),
    ]
    event = AuditEvent.objects.get(action="approval.withdrawn")
    assert event.metadata["quorum_lost"] is True and event.metadata["granted"] == 0
    # The gateway no longer counts it.
    writes_off = proposal_execute_denial(proposal, staff)
    assert writes_off.code == ReasonCode.APPROVAL_REQUIRED


def proposal_execute_denial(proposal, staff):
    with pytest.raises(Denied) as denied:
        proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(staff.operator))
    return denied.value


def test_a_withdrawn_approver_may_approve_again_in_the_same_round(staff, submit):
    proposal = submit()
    grant(proposal, staff.approver)
    withdraw(proposal, staff.approver)
    again = grant(proposal, staff.approver, "Kiln 2 is free again")
    assert again.decision == Decision.GRANTED and again.withdrawn_at is None
    assert Approval.objects.filter(proposal=proposal).count() == 1
    assert status(proposal) == ProposalStatus.APPROVED


def test_withdrawing_while_pending_keeps_it_pending(staff, submit, second_approver):
    proposal = submit("firestore.batch.close")
    grant(proposal, staff.approver)
    withdraw(proposal, staff.approver)
    assert status(proposal) == ProposalStatus.PENDING_APPROVAL
    grant(proposal, second_approver)
    assert status(proposal) == ProposalStatus.PENDING_APPROVAL  # 1 of 2 again


def test_there_is_nothing_to_withdraw_without_your_own_grant(staff, submit, second_approver):
    proposal = submit("firestore.batch.close")
    grant(proposal, staff.approver)
    with pytest.raises(Denied) as denied:
        withdraw(proposal, second_approver)
    assert denied.value.code == ReasonCode.NOTHING_TO_WITHDRAW
    assert chain(staff.studio.pk)[-1] == (3, "approval.withdraw_denied", "NOTHING_TO_WITHDRAW")


def test_an_approval_cannot_be_withdrawn_once_the_proposal_runs(staff, submit, settings):
    firestore_pilot(staff.studio)
    writes(settings)
    proposal = submit()
    grant(proposal, staff.approver)
    proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(staff.operator))
    with pytest.raises(Denied) as queued:
        withdraw(proposal, staff.approver)
    assert queued.value.code == ReasonCode.EXECUTION_EXISTS
    Proposal.objects.filter(pk=proposal.pk).update(status=ProposalStatus.EXECUTED)
    Execution.objects.filter(proposal=proposal).update(status=ExecutionStatus.SUCCEEDED)
    with pytest.raises(Denied) as executed:
        withdraw(proposal, staff.approver)
    assert executed.value.code == ReasonCode.ILLEGAL_TRANSITION
    assert [row[1:] for row in chain(staff.studio.pk)[-2:]] == [
        ("approval.withdraw_denied", "EXECUTION_EXISTS"),
        ("proposal.transition_denied", "ILLEGAL_TRANSITION"),
    ]
    assert Approval.objects.get(proposal=proposal).decision == Decision.GRANTED


def test_viewers_cannot_withdraw(staff, submit):
    proposal = submit()
    with pytest.raises(Denied) as denied:
        withdraw(proposal, staff.viewer)
    assert denied.value.code == ReasonCode.ROLE_REQUIRED


# -- cancel -------------------------------------------------------------------------------


@pytest.mark.parametrize("approve_first", [False, True])
def test_the_requester_cancels_a_pending_or_approved_proposal(staff, submit, approve_first):
    proposal = submit()
    if approve_first:
        grant(proposal, staff.approver)
    cancel(proposal, staff.operator)
    assert status(proposal) == ProposalStatus.CANCELLED
    last = AuditEvent.objects.filter(studio=staff.studio).order_by("-sequence").first()
    assert (last.action, last.reason_code, last.approval_state) == (
        "proposal.cancelled",
        "ALLOWED",
        "cancelled",
    )
    assert last.metadata["reason"] == "Not needed any more"
    # Nothing decides or runs a cancelled proposal any more.
    with pytest.raises(Denied) as late:
        grant(proposal, staff.admin)
    assert late.value.code == ReasonCode.ILLEGAL_TRANSITION
    assert proposal_execute_denial(proposal, staff).code == ReasonCode.PROPOSAL_CANCELLED


def test_only_the_requester_may_cancel(staff, submit):
    proposal = submit()
    with pytest.raises(Denied) as denied:
        cancel(proposal, staff.admin)
    assert denied.value.code == ReasonCode.NOT_REQUESTER
    assert status(proposal) == ProposalStatus.PENDING_APPROVAL
    assert chain(staff.studio.pk)[-1] == (2, "proposal.cancel_denied", "NOT_REQUESTER")
    agent_made = submit(actor=Actor.agent("ops-bot"))
    with pytest.raises(Denied):
        cancel(agent_made, staff.operator)


def test_a_cancel_needs_a_reason_and_a_cancelled_proposal_stays_cancelled(staff, submit):
    proposal = submit()
    with pytest.raises(Denied) as short:
        cancel(proposal, staff.operator, reason="no")
    assert short.value.code == ReasonCode.RATIONALE_REQUIRED
    cancel(proposal, staff.operator)
    with pytest.raises(Denied) as twice:
        cancel(proposal, staff.operator)
    assert twice.value.code == ReasonCode.ILLEGAL_TRANSITION


def test_a_running_proposal_cannot_be_cancelled(staff, submit, settings):
    firestore_pilot(staff.studio)
    writes(settings)
    proposal = submit()
    grant(proposal, staff.approver)
    proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(staff.operator))
    with pytest.raises(Denied) as denied:
        cancel(proposal, staff.operator)
    assert denied.value.code == ReasonCode.EXECUTION_EXISTS
    assert status(proposal) == ProposalStatus.APPROVED


# -- execution readiness ------------------------------------------------------------------


def test_readiness_gives_the_gateways_reason_for_writes_off_and_no_pilot(staff, submit, settings):
    proposal = submit()
    before = AuditEvent.objects.count()
    off = execution_readiness(proposal)
    assert off is not None and off.code == ReasonCode.WRITES_DISABLED
    assert "BRAIN_ENABLE_WRITE_EXECUTION=false" in off.message
    writes(settings)
    no_pilot = execution_readiness(proposal)
    assert no_pilot.code == ReasonCode.WRITES_DISABLED
    assert "No enabled firestore_pilot connector" in no_pilot.message
    grant(proposal, staff.approver)
    proposal.refresh_from_db()
    gateway = proposal_execute_denial(proposal, staff)
    assert (gateway.code, gateway.message) == (no_pilot.code, execution_readiness(proposal).message)
    assert AuditEvent.objects.count() == before + 2  # the grant and the gateway's denial only


def test_readiness_passes_with_a_pilot_and_writes_on_and_sees_kill_switches(
    staff, submit, settings
):
    firestore_pilot(staff.studio)
    writes(settings)
    proposal = submit()
    assert execution_readiness(proposal) is None
    kill_switch_engage(
        actor=Actor.staff(staff.admin), reason="Kiln inspection today", studio=staff.studio
    )
    blocked = execution_readiness(proposal)
    assert blocked.code == ReasonCode.BLOCKED_BY_POLICY and "kill switch is on" in blocked.message


def test_readiness_of_an_approved_proposal_checks_the_approval_window(staff, submit, settings):
    import datetime as dt

    firestore_pilot(staff.studio)
    writes(settings)
    proposal = submit()
    grant(proposal, staff.approver)
    proposal.refresh_from_db()
    assert execution_readiness(proposal) is None
    later = proposal.approved_at + settings.BRAIN.approval_window + dt.timedelta(seconds=1)
    assert execution_readiness(proposal, now=later).code == ReasonCode.APPROVAL_EXPIRED


# -- bulk ---------------------------------------------------------------------------------


def queue_of(staff, count, **fields):
    return [ProposalFactory(studio=staff.studio, **fields) for _ in range(count)]


def test_bulk_approval_of_100_with_3_illegal_gives_97_approvals_and_3_audited_denials(staff):
    proposals = queue_of(staff, 97)
    own = ProposalFactory(
        studio=staff.studio,
        requested_by_type="staff",
        requested_by_id=str(staff.approver.pk),
        requested_by_user=staff.approver,
    )
    decided = ProposalFactory(studio=staff.studio, approvals_required=2)
    grant(decided, staff.approver)
    risky = ProposalFactory(studio=staff.studio, risk=Risk.HIGH, approvals_required=2)
    ids = [p.pk for p in proposals] + [own.pk, decided.pk, risky.pk]
    assert len(ids) == BULK_LIMIT
    before = AuditEvent.objects.filter(studio=staff.studio).count()

    outcomes = approval_bulk_decide(
        studio_id=staff.studio.pk,
        proposal_ids=ids,
        actor=Actor.staff(staff.approver),
        rationale="Routine ops notes, all checked",
        verb=BulkVerb.APPROVE,
    )

    assert [o.proposal_id for o in outcomes] == sorted(ids)
    assert sum(o.decided for o in outcomes) == 97
    denied = {o.proposal_id: o.code for o in outcomes if not o.decided}
    assert denied == {
        own.pk: ReasonCode.SELF_APPROVAL,
        decided.pk: ReasonCode.ALREADY_DECIDED,
        risky.pk: ReasonCode.BULK_NOT_ALLOWED,
    }
    assert (
        Proposal.objects.filter(pk__in=[p.pk for p in proposals], status="approved").count() == 97
    )
    assert Proposal.objects.get(pk=risky.pk).status == ProposalStatus.PENDING_APPROVAL
    events = AuditEvent.objects.filter(studio=staff.studio, sequence__gt=before)
    assert events.filter(action="approval.granted").count() == 97
    assert sorted(
        events.filter(action="approval.grant_denied").values_list("reason_code", flat=True)
    ) == ["ALREADY_DECIDED", "BULK_NOT_ALLOWED", "SELF_APPROVAL"]
    assert all(e.metadata.get("bulk") for e in events.exclude(action="approval.bulk_decided"))
    # In id order, as 100 single decisions would have written them.
    targets = list(
        events.exclude(action="approval.bulk_decided")
        .order_by("sequence")
        .values_list("target_id", flat=True)
    )
    assert targets == [str(pk) for pk in sorted(ids)]
    summary = events.get(action="approval.bulk_decided")
    assert (summary.metadata["decided"], summary.metadata["denied"]) == (97, 3)
    assert events.count() == 97 + 3 + 1


def test_bulk_rejection_rejects_high_risk_too(staff):
    risky = ProposalFactory(studio=staff.studio, risk=Risk.CRITICAL)
    outcomes = approval_bulk_decide(
        studio_id=staff.studio.pk,
        proposal_ids=[risky.pk],
        actor=Actor.staff(staff.approver),
        rationale="Not this week, kiln is down",
        verb=BulkVerb.REJECT,
    )
    assert outcomes[0].decided and outcomes[0].status == ProposalStatus.REJECTED


def test_another_studios_proposal_in_a_batch_is_not_found_and_untouched(staff):
    theirs = ProposalFactory(studio=staff.other_studio)
    ours = ProposalFactory(studio=staff.studio)
    outcomes = approval_bulk_decide(
        studio_id=staff.studio.pk,
        proposal_ids=[theirs.pk, ours.pk],
        actor=Actor.staff(staff.approver),
        rationale="Routine ops notes, all checked",
        verb=BulkVerb.APPROVE,
    )
    assert {(o.proposal_id, o.decided) for o in outcomes} == {(theirs.pk, False), (ours.pk, True)}
    assert status(theirs) == ProposalStatus.PENDING_APPROVAL
    assert not AuditEvent.objects.filter(studio=staff.other_studio).exists()


@pytest.mark.parametrize(
    ("count", "rationale", "who", "code"),
    [
        (0, "Routine ops notes, all checked", "approver", ReasonCode.INPUT_INVALID),
        (BULK_LIMIT + 1, "Routine ops notes, all checked", "approver", ReasonCode.INPUT_INVALID),
        (2, "ok", "approver", ReasonCode.RATIONALE_REQUIRED),
        (2, "Routine ops notes, all checked", "operator", ReasonCode.ROLE_REQUIRED),
    ],
)
def test_a_batch_that_is_empty_too_long_unexplained_or_not_yours_is_denied_whole(
    staff, count, rationale, who, code
):
    ids = [p.pk for p in queue_of(staff, count)]
    with pytest.raises(Denied) as denied:
        approval_bulk_decide(
            studio_id=staff.studio.pk,
            proposal_ids=ids,
            actor=Actor.staff(getattr(staff, who)),
            rationale=rationale,
            verb=BulkVerb.APPROVE,
        )
    assert denied.value.code == code
    assert not Approval.objects.exists()
    assert chain(staff.studio.pk) == [(1, "approval.bulk_denied", str(code))]


def test_bulk_approval_costs_a_bounded_number_of_queries_per_proposal(staff):
    def run(count):
        ids = [p.pk for p in queue_of(staff, count)]
        with CaptureQueriesContext(connection) as queries:
            approval_bulk_decide(
                studio_id=staff.studio.pk,
                proposal_ids=ids,
                actor=Actor.staff(staff.approver),
                rationale="Routine ops notes, all checked",
                verb=BulkVerb.APPROVE,
            )
        return len(queries)

    run(1)  # the studio's audit chain head is made by its first event
    ten, twenty = run(10), run(20)
    assert twenty - ten == 10  # one per proposal: its audit event; the rest are sets
    # The batch's own: its savepoint, the membership, the locks, the approver's rows, the
    # grant counts, the inserts, the updates, the summary event.
    assert ten - 10 <= 10


def test_a_bulk_grant_writes_the_same_rows_and_event_as_a_single_one(staff):
    single, many = ProposalFactory(studio=staff.studio), ProposalFactory(studio=staff.studio)
    grant(single, staff.approver, "Routine ops notes, all checked")
    approval_bulk_decide(
        studio_id=staff.studio.pk,
        proposal_ids=[many.pk],
        actor=Actor.staff(staff.approver),
        rationale="Routine ops notes, all checked",
        verb=BulkVerb.APPROVE,
    )
    one, bulk = (
        AuditEvent.objects.get(action="approval.granted", target_id=str(p.pk))
        for p in (single, many)
    )
    fields = ("actor_type", "actor_id", "approval_state", "reason_code", "input_hash")
    assert [getattr(one, f) for f in fields] == [getattr(bulk, f) for f in fields]
    assert {k: v for k, v in bulk.metadata.items() if k not in ("approval_id", "bulk")} == {
        k: v for k, v in one.metadata.items() if k != "approval_id"
    }
    assert status(single) == status(many) == ProposalStatus.APPROVED
    rows = [Approval.objects.get(proposal=p) for p in (single, many)]
    assert [(r.decision, r.rationale, r.input_hash) for r in rows] == [
        (Decision.GRANTED, "Routine ops notes, all checked", single.input_hash),
        (Decision.GRANTED, "Routine ops notes, all checked", many.input_hash),
    ]


def test_a_withdrawn_grant_is_granted_again_in_bulk_on_its_own_row(staff):
    proposal = ProposalFactory(studio=staff.studio, approvals_required=2)
    grant(proposal, staff.approver)
    withdraw(proposal, staff.approver)
    outcomes = approval_bulk_decide(
        studio_id=staff.studio.pk,
        proposal_ids=[proposal.pk],
        actor=Actor.staff(staff.approver),
        rationale="Routine ops notes, all checked",
        verb=BulkVerb.APPROVE,
    )
    assert outcomes[0].decided and outcomes[0].status == ProposalStatus.PENDING_APPROVAL
    row = Approval.objects.get(proposal=proposal)
    assert row.decision == Decision.GRANTED and row.withdrawn_at is None
    event = AuditEvent.objects.filter(action="approval.granted").order_by("-sequence").first()
    assert event.metadata["granted"] == 1 and event.metadata["quorum_reached"] is False
