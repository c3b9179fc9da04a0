"""The decision panel on a proposal's page: what you did, what is still needed, who may
still decide, whether anything can execute it, and where it sits on a narrow screen."""

import pytest
from django.urls import reverse

from governance.actors import Actor
from governance.enums import ProposalStatus
from governance.models import AuditEvent
from governance.services.approvals import approval_grant
from tests.factories import ProposalFactory

pytestmark = pytest.mark.django_db


def detail(proposal, verb=""):
    name = {"": "proposal_detail", "execute": "proposal_execute"}[verb]
    return reverse(f"cockpit:{name}", args=[proposal.studio.slug, proposal.pk])


def pending(staff, **fields):
    return ProposalFactory(studio=staff.studio, **fields)


def approved(staff, **fields):
    proposal = pending(staff, **fields)
    approval_grant(
        proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Checked the kiln"
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    return proposal


def test_after_approving_the_forms_are_gone_and_the_panel_says_what_is_still_needed(staff, login):
    proposal = pending(staff, approvals_required=2)
    approval_grant(
        proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Checked the kiln"
    )
    body = login(staff.approver).get(detail(proposal)).content.decode()
    assert 'id="approve_rationale"' not in body and 'id="reject_rationale"' not in body
    assert "You approved · waiting for 1 more approver (role approver)" in body


def test_execute_is_not_offered_when_writes_are_off_and_the_panel_says_why(staff, login):
    proposal = approved(staff)
    body = login(staff.operator).get(detail(proposal)).content.decode()
    assert ">Execute</button>" not in body
    assert "External writes are off on this runtime" in body


def test_approvers_see_that_nothing_can_execute_this_yet_before_they_approve(staff, login):
    proposal = pending(staff)
    body = login(staff.approver).get(detail(proposal)).content.decode()
    assert 'id="approve_rationale"' in body
    assert "Nothing can execute this yet" in body
    assert "External writes are off on this runtime" in body


def test_a_denied_execute_refreshes_the_audit_trail_out_of_band(staff, login):
    proposal = approved(staff)
    response = login(staff.operator).post(
        detail(proposal, "execute"), headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert AuditEvent.objects.filter(action="execution.denied").count() == 1
    assert 'id="audit-trail" class="card" hx-swap-oob="true"' in body
    assert "execution.denied" in body
    assert (
        '<section id="decision" class="card decision" aria-live="polite" hx-swap-oob="true">'
        in body
    )


def test_the_decision_panel_comes_before_the_audit_trail_in_reading_order(staff, login):
    proposal = pending(staff)
    body = login(staff.approver).get(detail(proposal)).content.decode()
    assert body.index('id="decision"') < body.index('id="audit-trail"')


def action(proposal, verb, slug=None):
    return reverse(f"cockpit:proposal_{verb}", args=[slug or proposal.studio.slug, proposal.pk])


def staff_proposal(staff, user, **fields):
    return pending(
        staff,
        requested_by_type="staff",
        requested_by_id=str(user.pk),
        requested_by_user=user,
        **fields,
    )


def test_the_panel_names_who_approved_who_may_still_and_the_deadline(staff, login):
    proposal = pending(staff, approvals_required=2)
    approval_grant(
        proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Checked the kiln"
    )
    body = login(staff.admin).get(detail(proposal)).content.decode()
    assert "1 of 2 approvals" in body and "1 more needed" in body
    assert "May still approve:</span> ada" in body  # anna decided; vera and otto are no approvers
    assert "Expires in" in body
    assert "Your decision is needed" in body and 'id="approve_rationale"' in body


def test_the_requester_sees_no_decision_forms_but_may_cancel(staff, login):
    proposal = staff_proposal(staff, staff.admin)
    body = login(staff.admin).get(detail(proposal)).content.decode()
    assert 'id="approve_rationale"' not in body
    assert "You proposed this · waiting for 1 more approver (role approver)" in body
    assert 'id="cancel_rationale"' in body
    assert "May still approve:</span> anna" in body  # not the requester


def test_the_requester_cancels_from_the_panel(staff, login):
    proposal = staff_proposal(staff, staff.operator)
    client = login(staff.operator)
    response = client.post(action(proposal, "cancel"), {"rationale": "Kiln plan changed again"})
    assert response.status_code == 302 and response["Location"] == detail(proposal)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.CANCELLED
    body = client.get(detail(proposal)).content.decode()
    assert "Cancelled by the person who proposed it" in body
    assert 'id="cancel_rationale"' not in body and "Nothing can execute this yet" not in body


def test_someone_else_cannot_cancel_and_sees_why_in_words(staff, login):
    proposal = staff_proposal(staff, staff.operator)
    response = login(staff.admin).post(
        action(proposal, "cancel"), {"rationale": "I want it gone now"}
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "Only the staff member who submitted a proposal can cancel it." in body
    assert 'title="Reason code NOT_REQUESTER"' in body
    assert AuditEvent.objects.filter(action="proposal.cancel_denied").count() == 1


def test_an_approver_withdraws_with_htmx_and_the_proposal_waits_again(staff, login):
    proposal = approved(staff)
    client = login(staff.approver)
    body = client.get(detail(proposal)).content.decode()
    assert "You approved · quorum met" in body and 'id="withdraw_rationale"' in body
    response = client.post(
        action(proposal, "withdraw"),
        {"rationale": "Kiln 2 is booked after all"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and response["HX-Redirect"] == detail(proposal)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL
    again = client.get(detail(proposal)).content.decode()
    assert "You withdrew your approval · you may decide again" in again
    assert 'id="approve_rationale"' in again


def test_a_short_withdraw_reason_comes_back_as_the_panel_fragment(staff, login):
    proposal = approved(staff)
    response = login(staff.approver).post(
        action(proposal, "withdraw"), {"rationale": "no"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="decision"')
    assert "Ensure this value has at least 10 characters" in body
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED


def test_withdraw_and_cancel_check_method_role_and_studio(staff, login):
    proposal = approved(staff)
    assert login(staff.approver).get(action(proposal, "withdraw")).status_code == 405
    assert login(staff.approver).get(action(proposal, "cancel")).status_code == 405
    why = {"rationale": "Kiln 2 is booked after all"}
    assert login(staff.operator).post(action(proposal, "withdraw"), why).status_code == 403
    assert login(staff.outsider).post(action(proposal, "withdraw"), why).status_code == 404
    assert (
        login(staff.outsider).post(action(proposal, "cancel", "south-clay"), why).status_code == 404
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
