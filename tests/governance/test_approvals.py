import pytest
from django.db import connection

from governance.actors import Actor
from governance.enums import ProposalStatus
from governance.errors import Denied, ProposalNotFound
from governance.models import Approval, Proposal
from governance.reasons import ReasonCode
from governance.selectors.proposals import approval_matches
from governance.services.approvals import approval_grant, approval_reject
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db


def grant(proposal, user, rationale="Checked against the kiln log"):
    return approval_grant(proposal_id=proposal.pk, actor=Actor.staff(user), rationale=rationale)


def test_one_approval_approves_a_medium_risk_proposal_and_binds_its_input_hash(staff, submit):
    proposal = submit()
    approval = grant(proposal, staff.approver)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    assert proposal.approved_at == approval.created_at
    assert approval.input_hash == proposal.input_hash
    assert approval_matches(proposal)
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.granted", "ALLOWED"),
    ]


def test_high_risk_needs_two_distinct_approvers(staff, submit, second_approver):
    proposal = submit("firestore.batch.close")
    assert proposal.approvals_required == 2
    grant(proposal, staff.approver)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL
    with pytest.raises(Denied) as twice:
        grant(proposal, staff.approver, "Approving a second time")
    assert twice.value.code == ReasonCode.ALREADY_DECIDED
    grant(proposal, second_approver)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    events = chain(staff.studio.pk)
    assert events == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.granted", "ALLOWED"),
        (3, "approval.grant_denied", "ALREADY_DECIDED"),
        (4, "approval.granted", "ALLOWED"),
    ]


def test_admins_count_as_approvers(staff, submit):
    proposal = submit("firestore.batch.close")
    grant(proposal, staff.approver)
    grant(proposal, staff.admin)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED


def test_the_proposer_can_never_approve_their_own_proposal(staff, submit):
    proposal = submit(actor=Actor.staff(staff.admin))
    with pytest.raises(Denied) as own:
        grant(proposal, staff.admin)
    assert own.value.code == ReasonCode.SELF_APPROVAL
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL
    assert not Approval.objects.exists()
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.grant_denied", "SELF_APPROVAL"),
    ]


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("viewer", ReasonCode.ROLE_REQUIRED),
        ("operator", ReasonCode.ROLE_REQUIRED),
        ("outsider", ReasonCode.TENANT_MISMATCH),
    ],
)
def test_only_approvers_of_the_studio_decide(staff, submit, who, code):
    proposal = submit()
    for service in (approval_grant, approval_reject):
        with pytest.raises(Denied) as denied:
            service(
                proposal_id=proposal.pk,
                actor=Actor.staff(getattr(staff, who)),
                rationale="I say so, clearly",
            )
        assert denied.value.code == code
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.grant_denied", code),
        (3, "approval.reject_denied", code),
    ]


def test_agents_cannot_decide(staff, submit):
    proposal = submit()
    with pytest.raises(Denied) as denied:
        approval_grant(
            proposal_id=proposal.pk,
            actor=Actor.agent("helper-bot"),
            rationale="Looks fine to the bot",
        )
    assert denied.value.code == ReasonCode.ACTOR_NOT_ALLOWED
    assert chain(staff.studio.pk)[-1] == (2, "approval.grant_denied", "ACTOR_NOT_ALLOWED")


def test_a_rationale_is_required_to_decide(staff, submit):
    proposal = submit()
    with pytest.raises(Denied) as denied:
        grant(proposal, staff.approver, rationale="ok")
    assert denied.value.code == ReasonCode.RATIONALE_REQUIRED
    assert chain(staff.studio.pk)[-1] == (2, "approval.grant_denied", "RATIONALE_REQUIRED")


def test_rejection_ends_the_round(staff, submit, second_approver):
    proposal = submit("firestore.batch.close")
    grant(proposal, staff.approver)
    approval_reject(
        proposal_id=proposal.pk,
        actor=Actor.staff(second_approver),
        rationale="Pieces still on shelf",
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.REJECTED
    assert chain(staff.studio.pk) == [
        (1, "proposal.submitted", "ALLOWED"),
        (2, "approval.granted", "ALLOWED"),
        (3, "approval.rejected", "PROPOSAL_REJECTED"),
    ]


@pytest.mark.parametrize("decided", ["approved", "rejected"])
def test_deciding_a_decided_proposal_is_an_audited_illegal_transition(
    staff, submit, second_approver, decided
):
    proposal = submit()
    if decided == "approved":
        grant(proposal, staff.approver)
    else:
        approval_reject(
            proposal_id=proposal.pk,
            actor=Actor.staff(staff.approver),
            rationale="Not needed anymore",
        )
    for service in (approval_grant, approval_reject):
        with pytest.raises(Denied) as denied:
            service(
                proposal_id=proposal.pk,
                actor=Actor.staff(second_approver),
                rationale="Late to the party",
            )
        assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION
    proposal.refresh_from_db()
    assert proposal.status == decided
    assert [event[1:] for event in chain(staff.studio.pk)[2:]] == [
        ("proposal.transition_denied", "ILLEGAL_TRANSITION"),
        ("proposal.transition_denied", "ILLEGAL_TRANSITION"),
    ]


def test_an_unknown_proposal_is_not_found(staff):
    with pytest.raises(ProposalNotFound):
        grant(Proposal(pk=999_999), staff.approver)


def test_input_changed_after_approval_is_detectable(staff, submit):
    proposal = submit()
    grant(proposal, staff.approver)
    proposal.refresh_from_db()
    assert approval_matches(proposal)
    # Someone edits the stored input behind the services' back.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_proposal "
            "SET input = jsonb_set(input, '{note}', '\"Different note\"') WHERE id = %s",
            [proposal.pk],
        )
    proposal.refresh_from_db()
    assert not approval_matches(proposal)
