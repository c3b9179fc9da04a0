import datetime as dt

import pytest
import time_machine
from django.conf import settings

from connectors.sdk.canonical import canonical_hash
from governance.actors import Actor
from governance.enums import ProposalStatus, Risk
from governance.errors import Denied
from governance.models import Proposal
from governance.reasons import ReasonCode
from governance.services.approvals import approval_grant, approval_reject
from governance.services.proposals import (
    proposal_draft_submit,
    proposal_expire_due,
    proposal_reopen,
)
from tests.factories import ConnectorConfigFactory
from tests.governance.conftest import NOTE_INPUT, chain

pytestmark = pytest.mark.django_db


def test_submit_stores_the_normalised_input_its_hash_and_a_preview(staff, submit):
    proposal = submit(
        input={"batch_id": " batch-42 ", "note": "  Bisque load moved to kiln 2 "},
        based_on_snapshot="snap-2026-11-27",
    )
    assert proposal.status == ProposalStatus.PENDING_APPROVAL
    assert proposal.input == NOTE_INPUT
    assert proposal.input_hash == canonical_hash(NOTE_INPUT)
    assert proposal.summary == "Add an ops note to batch batch-42"
    assert any("studioBrainPilotOpsNotes" in effect for effect in proposal.expected_effects)
    # No firestore_pilot connector in this studio: the dry run says so (tests/governance/
    # test_dry_run.py covers the dry runs of configured pilots).
    assert proposal.dry_run == {
        "ok": False,
        "problem": "No enabled firestore_pilot connector is configured for this studio.",
    }
    assert proposal.based_on_snapshot == "snap-2026-11-27"
    assert proposal.risk == Risk.MEDIUM and proposal.approvals_required == 1
    assert proposal.expires_at == proposal.submitted_at + settings.BRAIN.proposal_ttl
    assert proposal.requester_label == f"staff:{staff.operator.pk}"
    assert chain(staff.studio.pk) == [(1, "proposal.submitted", "ALLOWED")]


def test_agents_and_system_jobs_may_propose(staff, submit):
    by_agent = submit(actor=Actor.agent("ops-detector"))
    by_system = submit(actor=Actor.system("drift"))
    assert (by_agent.requested_by_type, by_agent.requested_by_id) == ("agent", "ops-detector")
    assert by_system.requested_by_user is None
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "proposal.submitted", "ALLOWED"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"capability_id": "firestore.everything.delete"}, ReasonCode.CAPABILITY_UNKNOWN, None),
        ({"rationale": "too short"}, ReasonCode.RATIONALE_REQUIRED, "rationale"),
        ({"input": {"batch_id": "b1", "note": "hey"}}, ReasonCode.INPUT_INVALID, "note"),
        (
            {"input": {"batch_id": "a/b", "note": "a valid note"}},
            ReasonCode.INPUT_INVALID,
            "batch_id",
        ),
        (
            {"input": {"batch_id": "b1", "note": "a valid note", "extra": 1}},
            ReasonCode.INPUT_INVALID,
            "extra",
        ),
        ({"input": {"batch_id": "b1", "note": "x" * 501}}, ReasonCode.INPUT_INVALID, "note"),
    ],
)
def test_bad_submissions_are_denied_with_a_reason_and_audited(staff, submit, kwargs, code, field):
    with pytest.raises(Denied) as denied:
        submit(**kwargs)
    assert denied.value.code == code
    if field:
        assert field in denied.value.field_errors
    assert not Proposal.objects.exists()
    assert chain(staff.studio.pk) == [(1, "proposal.submit_denied", code)]


def test_device_commands_accept_only_their_commands(staff, submit):
    ConnectorConfigFactory(
        studio=staff.studio,
        kind="roborock",
        name="roborock",
        settings={"devices": [{"id": "hall", "label": "Hall vacuum", "ip": "192.168.1.40"}]},
    )
    with pytest.raises(Denied) as denied:
        submit(
            "roborock.device.command",
            input={"connector": "roborock", "device": "hall", "command": "explode"},
        )
    assert "command" in denied.value.field_errors
    proposal = submit(
        "roborock.device.command",
        input={"connector": "roborock", "device": "hall", "command": "home"},
    )
    assert proposal.approvals_required == 2


def test_viewers_and_outsiders_cannot_propose(staff, submit):
    with pytest.raises(Denied) as viewer:
        submit(actor=Actor.staff(staff.viewer))
    with pytest.raises(Denied) as outsider:
        submit(actor=Actor.staff(staff.outsider))
    assert viewer.value.code == ReasonCode.ROLE_REQUIRED
    assert outsider.value.code == ReasonCode.TENANT_MISMATCH
    assert chain(staff.studio.pk) == [
        (1, "proposal.submit_denied", "ROLE_REQUIRED"),
        (2, "proposal.submit_denied", "TENANT_MISMATCH"),
    ]


def test_a_draft_waits_until_it_is_submitted(staff, submit):
    draft = submit(draft=True, actor=Actor.system("ops-anomalies"))
    assert draft.status == ProposalStatus.DRAFT and draft.expires_at is None
    submitted = proposal_draft_submit(proposal_id=draft.pk, actor=Actor.system("ops-anomalies"))
    assert submitted.status == ProposalStatus.PENDING_APPROVAL
    with pytest.raises(Denied) as again:
        proposal_draft_submit(proposal_id=draft.pk, actor=Actor.system("ops-anomalies"))
    assert again.value.code == ReasonCode.ILLEGAL_TRANSITION
    assert chain(staff.studio.pk) == [
        (1, "proposal.drafted", "ALLOWED"),
        (2, "proposal.submitted", "ALLOWED"),
        (3, "proposal.transition_denied", "ILLEGAL_TRANSITION"),
    ]


def test_an_admin_reopens_a_rejected_proposal_for_a_new_round(staff, submit):
    proposal = submit()
    approval_reject(
        proposal_id=proposal.pk,
        actor=Actor.staff(staff.approver),
        rationale="Kiln 2 is booked solid",
    )
    reopened = proposal_reopen(
        proposal_id=proposal.pk,
        actor=Actor.staff(staff.admin),
        reason="Kiln 2 has a free slot after all",
    )
    assert reopened.status == ProposalStatus.PENDING_APPROVAL
    assert reopened.decision_round == 2
    # The same approver may decide again in the new round.
    approval_grant(
        proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Free slot confirmed"
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.rejected", "PROPOSAL_REJECTED"),
        (3, "proposal.reopened", "ALLOWED"),
        (4, "approval.granted", "ALLOWED"),
    ]


def test_only_admins_reopen_and_only_rejected_proposals(staff, submit):
    proposal = submit()
    with pytest.raises(Denied) as not_rejected:
        proposal_reopen(
            proposal_id=proposal.pk, actor=Actor.staff(staff.admin), reason="Reopen it please now"
        )
    approval_reject(
        proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Not this week, sorry"
    )
    with pytest.raises(Denied) as approver:
        proposal_reopen(
            proposal_id=proposal.pk,
            actor=Actor.staff(staff.approver),
            reason="Reopen it please now",
        )
    with pytest.raises(Denied) as no_reason:
        proposal_reopen(proposal_id=proposal.pk, actor=Actor.staff(staff.admin), reason="because")
    assert (not_rejected.value.code, approver.value.code, no_reason.value.code) == (
        ReasonCode.ILLEGAL_TRANSITION,
        ReasonCode.ROLE_REQUIRED,
        ReasonCode.RATIONALE_REQUIRED,
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.REJECTED
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "proposal.transition_denied", "ILLEGAL_TRANSITION"),
        (3, "approval.rejected", "PROPOSAL_REJECTED"),
        (4, "proposal.reopen_denied", "ROLE_REQUIRED"),
        (5, "proposal.reopen_denied", "RATIONALE_REQUIRED"),
    ]


def test_pending_proposals_expire_after_the_ttl(staff, submit):
    start = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        proposal = submit()
    system = Actor.system("expire_proposals")
    with time_machine.travel(
        start + settings.BRAIN.proposal_ttl - dt.timedelta(seconds=1), tick=False
    ):
        assert proposal_expire_due(actor=system) == []
        # Still pending but not yet expired: an approval in the last second still counts.
    with time_machine.travel(start + settings.BRAIN.proposal_ttl, tick=False):
        with pytest.raises(Denied) as late:
            approval_grant(
                proposal_id=proposal.pk,
                actor=Actor.staff(staff.approver),
                rationale="Approving late",
            )
        assert late.value.code == ReasonCode.PROPOSAL_EXPIRED
        assert proposal_expire_due(actor=system) == [proposal.pk]
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXPIRED
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.grant_denied", "PROPOSAL_EXPIRED"),
        (3, "proposal.expired", "PROPOSAL_EXPIRED"),
    ]


def test_approvals_go_stale_after_the_approval_window(staff, submit):
    start = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        proposal = submit()
        approval_grant(
            proposal_id=proposal.pk,
            actor=Actor.staff(staff.approver),
            rationale="Fine by the kiln team",
        )
    from governance.selectors.proposals import approval_is_fresh

    proposal.refresh_from_db()
    assert proposal.approved_at == start
    window = settings.BRAIN.approval_window
    with time_machine.travel(start + window - dt.timedelta(seconds=1), tick=False):
        assert approval_is_fresh(proposal)
        assert proposal_expire_due(actor=Actor.system("expire_proposals")) == []
    with time_machine.travel(start + window, tick=False):
        assert not approval_is_fresh(proposal)
        assert proposal_expire_due(actor=Actor.system("expire_proposals")) == [proposal.pk]
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXPIRED
    assert chain(staff.studio.pk)[-1] == (3, "proposal.expired", "APPROVAL_EXPIRED")


@pytest.mark.django_db
def test_nul_characters_in_input_or_rationale_are_invalid_input_not_a_server_error(studio, staff):
    from governance.actors import Actor
    from governance.errors import Denied
    from governance.models import Proposal
    from governance.services.proposals import proposal_submit

    for bad_input, rationale in (
        ({"batch_id": "b\x00", "note": "A note here"}, "A good reason"),
        ({"batch_id": "b1", "note": "A note here"}, "A reason\x00 here"),
    ):
        with pytest.raises(Denied):
            proposal_submit(
                studio=studio,
                capability_id="firestore.ops_note.append",
                input=bad_input,
                rationale=rationale,
                actor=Actor.staff(staff.operator),
            )
    assert not Proposal.objects.exists()
