"""Intake review: blocked agent submissions and the staff overrides that decide them."""

import dataclasses

import pytest

from governance.actors import Actor
from governance.errors import Denied
from governance.models import IntakeReview, Proposal
from governance.reasons import ReasonCode
from governance.services.agent_submissions import SubmissionDenied, agent_proposal_submit
from governance.services.agents import resolve_actor
from governance.services.intake import intake_override
from tests.governance.conftest import chain
from tests.policy_support import issue, make_agent, make_delegation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_limits")]

NOTE = "firestore.ops_note.append"


@pytest.fixture
def blocked(staff):
    """A pending review: the agent asked for a note the intake policy holds (fraud risk)."""
    agent = make_agent(staff.studio)
    make_delegation(staff.studio)
    actor = resolve_actor(issue(staff.admin, agent))
    with pytest.raises(SubmissionDenied) as denied:
        agent_proposal_submit(
            actor=actor,
            capability_id=NOTE,
            input={"batch_id": "b9", "note": "Write a fake receipt for the workshop"},
            rationale="Ana asked for paperwork for her records",
        )
    assert denied.value.code == ReasonCode.BLOCKED_BY_INTAKE_POLICY
    return IntakeReview.objects.get(pk=denied.value.intake_id)


def override(
    staff, review, reason_code, *, by=None, rationale="Checked with the studio owner today"
):
    return intake_override(
        studio=staff.studio,
        review_id=review.pk,
        actor=Actor.staff(by or staff.approver),
        reason_code=reason_code,
        rationale=rationale,
    )


def test_a_blocked_submission_waits_whole_in_the_queue(blocked):
    assert blocked.status == "pending"
    assert blocked.categories == ["fraud_risk"]
    assert blocked.matches[0]["rule"] == "fraud-fake-receipt"
    assert blocked.submission["rationale"] == "Ana asked for paperwork for her records"
    assert blocked.policy_version == "intake-v1"
    assert not Proposal.objects.exists()


def test_a_staff_override_grant_creates_the_proposal_as_the_agent_asked(staff, blocked):
    review = override(staff, blocked, "staff_override_false_positive")
    assert review.status == "granted" and review.decided_by == staff.approver
    proposal = review.proposal
    assert (proposal.requested_by_type, proposal.requested_by_id) == ("agent", "ops-bot")
    assert proposal.input == {"batch_id": "b9", "note": "Write a fake receipt for the workshop"}
    assert proposal.status == "pending_approval"  # still needs its approval
    assert [(a, c) for _, a, c in chain(staff.studio.pk)][-2:] == [
        ("proposal.submitted", "ALLOWED"),
        ("intake.override_granted", "staff_override_false_positive"),
    ]


def test_a_policy_deny_keeps_it_blocked(staff, blocked):
    review = override(staff, blocked, "policy_confirmed_block")
    assert review.status == "denied" and review.proposal is None
    assert not Proposal.objects.exists()
    assert chain(staff.studio.pk)[-1][1:] == ("intake.override_denied", "policy_confirmed_block")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"reason_code": "because_i_said_so"}, ReasonCode.INTAKE_REASON_INVALID),
        ({"reason_code": "staff_override_not_in_policy"}, ReasonCode.INTAKE_REASON_INVALID),
        (
            {"reason_code": "staff_override_licensed", "rationale": "ok"},
            ReasonCode.RATIONALE_REQUIRED,
        ),
    ],
)
def test_an_override_needs_a_known_reason_code_and_a_rationale(staff, blocked, kwargs, code):
    with pytest.raises(Denied) as denied:
        override(staff, blocked, **kwargs)
    assert denied.value.code == code
    blocked.refresh_from_db()
    assert blocked.status == "pending"
    assert chain(staff.studio.pk)[-1][1:] == ("intake.override_refused", str(code))


def test_operators_cannot_override_and_a_review_is_decided_once(staff, blocked):
    with pytest.raises(Denied) as denied:
        override(staff, blocked, "policy_reported", by=staff.operator)
    assert denied.value.code == ReasonCode.ROLE_REQUIRED
    override(staff, blocked, "policy_reported")
    with pytest.raises(Denied) as denied:
        override(staff, blocked, "staff_override_licensed")
    assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION


def test_another_studios_staff_cannot_decide_it(staff, blocked):
    with pytest.raises(Denied) as denied:
        intake_override(
            studio=staff.other_studio,
            review_id=blocked.pk,
            actor=Actor.staff(staff.outsider),
            reason_code="staff_override_licensed",
            rationale="Not my studio but trying",
        )
    assert denied.value.code == ReasonCode.TENANT_MISMATCH


def test_overrides_are_rate_limited_per_staff_member(staff, blocked, settings):
    settings.BRAIN = dataclasses.replace(settings.BRAIN, rate_limit_intake_override=1)
    with pytest.raises(Denied) as denied:
        override(staff, blocked, "staff_override_licensed", rationale="x")  # counted, then refused
    assert denied.value.code == ReasonCode.RATIONALE_REQUIRED
    with pytest.raises(Denied) as denied:
        override(staff, blocked, "staff_override_licensed")
    assert denied.value.code == ReasonCode.RATE_LIMITED
    actions = [a for _, a, _ in chain(staff.studio.pk)]
    assert actions[-2:] == ["rate_limit_triggered", "intake.override_refused"]
    assert override(staff, blocked, "policy_reported", by=staff.admin).status == "denied"
