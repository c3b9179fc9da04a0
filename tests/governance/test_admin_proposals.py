"""The admin's pending-proposal queue: approvers of a studio decide its proposals there with
the approval services (rationale, re-authentication, no self-approval, quorum, audit)."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.actors import Actor
from governance.auth_events import AUTHENTICATED_AT_SESSION_KEY
from governance.models import Approval, AuditEvent, Proposal
from governance.services.proposals import proposal_submit
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

QUEUE = "admin:governance_pendingproposal_changelist"
NOTE = {"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"}
CLOSE = {"batch_id": "b1", "reason": "All pieces picked up last week"}


def submit(staff, by, capability="firestore.ops_note.append", input=NOTE, studio=None):
    return proposal_submit(
        studio=studio or staff.studio,
        capability_id=capability,
        input=input,
        rationale="The kiln schedule changed",
        actor=Actor.staff(by),
    )


def stale(client: Client) -> Client:
    """The session's last password proof is an hour old: approving asks for it again."""
    session = client.session
    session[AUTHENTICATED_AT_SESSION_KEY] = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    session.save()
    return client


def act(client, action, proposals, **fields):
    return client.post(
        reverse(QUEUE),
        {"action": action, ACTION_CHECKBOX_NAME: [p.pk for p in proposals], **fields},
        follow=True,
    )


def test_an_approver_sees_only_their_studios_pending_proposals(staff, login):
    own = submit(staff, staff.operator)
    submit(staff, staff.outsider, studio=staff.other_studio)
    client = login(staff.approver)

    index = client.get(reverse("admin:index")).content.decode()
    listed = client.get(reverse(QUEUE)).context["cl"].result_list

    assert reverse(QUEUE) in index
    assert reverse("admin:governance_exemption_changelist") not in index
    assert [p.pk for p in listed] == [own.pk]
    change = client.get(reverse("admin:governance_pendingproposal_change", args=[own.pk]))
    assert change.status_code == 200 and not change.context["adminform"].form.fields  # read-only
    assert client.get(reverse("admin:governance_exemption_changelist")).status_code == 403


def test_approve_asks_for_a_rationale_and_a_stale_password_first(staff, login):
    proposal = submit(staff, staff.operator)
    client = stale(login(staff.approver))
    page = act(client, "approve_selected", [proposal])
    assert page.status_code == 200
    assert set(page.context["form"].fields) == {"rationale", "password"}

    wrong = act(
        client,
        "approve_selected",
        [proposal],
        confirm="1",
        rationale="Checked the input",
        password="x",
    )
    assert "That password is not correct." in wrong.content.decode()
    assert not Approval.objects.exists()
    act(
        client,
        "approve_selected",
        [proposal],
        confirm="1",
        rationale="Checked the input",
        password=PASSWORD,
    )
    proposal.refresh_from_db()
    assert proposal.status == "approved"


def test_approving_in_bulk_reports_each_proposal_and_respects_quorum_and_self_approval(
    staff, login
):
    note = submit(staff, staff.operator)  # one approval needed
    close = submit(staff, staff.operator, "firestore.batch.close", CLOSE)  # high risk: two
    own = submit(staff, staff.approver)  # the approver's own: refused
    client = login(staff.approver)  # signing in just now: no password asked

    response = act(
        client,
        "approve_selected",
        [note, close, own],
        confirm="1",
        rationale="Checked input and dry run",
    )

    lines = [str(m) for m in response.context["messages"]]
    assert any(f"#{note.pk}" in m and ": approved." in m for m in lines)
    assert any(f"#{close.pk}" in m and "waiting for more approvers" in m for m in lines)
    assert any(f"#{own.pk}" in m and "SELF_APPROVAL" in m for m in lines)
    statuses = dict(Proposal.objects.values_list("pk", "status"))
    assert statuses == {
        note.pk: "approved",
        close.pk: "pending_approval",
        own.pk: "pending_approval",
    }
    actions = list(
        AuditEvent.objects.filter(studio=staff.studio, action__startswith="approval.")
        .order_by("sequence")
        .values_list("action", "target_id", "reason_code")
    )
    assert actions == [
        ("approval.granted", str(note.pk), "ALLOWED"),
        ("approval.granted", str(close.pk), "ALLOWED"),
        ("approval.grant_denied", str(own.pk), "SELF_APPROVAL"),
    ]


def test_reject_needs_a_rationale_and_is_audited(staff, login):
    proposal = submit(staff, staff.operator)
    client = login(staff.approver)
    short = act(client, "reject_selected", [proposal], confirm="1", rationale="no")
    assert short.context["form"].errors["rationale"]
    act(client, "reject_selected", [proposal], confirm="1", rationale="Wrong batch named")
    proposal.refresh_from_db()
    assert proposal.status == "rejected"
    assert AuditEvent.objects.filter(
        action="approval.rejected", target_id=str(proposal.pk)
    ).exists()


def test_a_viewer_or_operator_cannot_reach_the_queue(staff, login):
    proposal = submit(staff, staff.operator)
    for user in (staff.viewer, staff.operator):
        client = login(user)
        response = client.get(reverse(QUEUE))
        assert response.status_code == 302 and response["Location"].startswith(
            reverse("admin:login")
        )
        act(client, "approve_selected", [proposal], confirm="1", rationale="Looks fine to me")
    assert not Approval.objects.exists()


def test_another_studios_approver_cannot_decide_by_posting_its_id(staff, login):
    proposal = submit(staff, staff.operator)
    act(login(staff.outsider), "reject_selected", [proposal], confirm="1", rationale="Not ours")
    proposal.refresh_from_db()
    assert proposal.status == "pending_approval"
