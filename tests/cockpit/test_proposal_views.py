import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.actors import Actor
from governance.enums import ProposalStatus
from governance.models import Approval, AuditEvent, Proposal
from governance.services.proposals import proposal_submit
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NOTE = {"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"}
CLOSE = {"batch_id": "batch-42", "reason": "All pieces picked up last week"}


def propose(staff, capability="firestore.ops_note.append", input=None, studio=None, actor=None):
    return proposal_submit(
        studio=studio or staff.studio,
        capability_id=capability,
        input=input or (CLOSE if capability == "firestore.batch.close" else NOTE),
        rationale="The kiln schedule changed this week",
        actor=actor or Actor.system("ops-anomalies"),
    )


def queue_url(slug="north-kiln", **query):
    url = reverse("cockpit:proposals", args=[slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def detail_url(proposal, slug="north-kiln", verb=""):
    name = {"": "proposal_detail", "approve": "proposal_approve", "reject": "proposal_reject"}[verb]
    return reverse(f"cockpit:{name}", args=[slug, proposal.pk])


def test_the_queue_lists_pending_proposals_and_the_nav_counts_them(staff, login):
    pending = propose(staff)
    decided = propose(staff)
    Proposal.objects.filter(pk=decided.pk).update(status=ProposalStatus.REJECTED)
    response = login(staff.viewer).get(queue_url())
    assert response.status_code == 200
    body = response.content.decode()
    assert f">{pending.pk}</a>" in body and f">{decided.pk}</a>" not in body
    assert 'class="badge"' in body and ">1</span>" in body


def test_the_empty_queue_says_so(staff, login):
    response = login(staff.viewer).get(queue_url())
    assert "Nothing waiting for a decision" in response.content.decode()
    filtered = login(staff.viewer).get(queue_url(risk=30))
    assert "No proposals match these filters" in filtered.content.decode()


def test_the_queue_filters_by_status_risk_capability_requester_and_age(staff, login):
    note = propose(staff)
    close = propose(staff, "firestore.batch.close", actor=Actor.staff(staff.operator))
    client = login(staff.viewer)

    def ids(**query):
        body = client.get(queue_url(**query)).content.decode()
        return {p.pk for p in (note, close) if f">{p.pk}</a>" in body}

    assert ids() == {note.pk, close.pk}
    assert ids(risk=30) == {close.pk}
    assert ids(capability="firestore.ops_note.append") == {note.pk}
    assert ids(requester=f"staff:{staff.operator.pk}") == {close.pk}
    assert ids(status="approved") == set()
    assert ids(age="1h") == {note.pk, close.pk}
    assert ids(age="older-24h") == set()


def test_the_queue_sorts_and_paginates(staff, login):
    with time_machine.travel(dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC), tick=False):
        oldest = propose(staff)
    made = [propose(staff) for _ in range(26)]
    client = login(staff.viewer)
    first = client.get(queue_url(sort="oldest")).content.decode()
    assert first.index(f">{oldest.pk}</a>") < first.index(f">{made[0].pk}</a>")
    assert "page 1 of 2" in first
    second = client.get(queue_url(sort="oldest", page=2)).content.decode()
    assert f">{made[-1].pk}</a>" in second and f">{oldest.pk}</a>" not in second


def test_the_queue_costs_the_same_queries_for_5_or_50_proposals(staff, login):
    client = login(staff.viewer)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(queue_url()).status_code == 200
        return len(queries)

    for _ in range(5):
        propose(staff, actor=Actor.staff(staff.operator))
    five = count_queries()
    for _ in range(45):
        propose(staff, actor=Actor.agent("ops-bot"))
    assert count_queries() == five


def test_the_queue_answers_htmx_with_the_fragment(staff, login):
    propose(staff)
    response = login(staff.viewer).get(queue_url(), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="queue"')
    assert "<html" not in body


def test_outsiders_get_404_and_wrong_methods_405(staff, login):
    proposal = propose(staff)
    outsider = login(staff.outsider)
    assert outsider.get(queue_url()).status_code == 404
    assert outsider.get(detail_url(proposal)).status_code == 404
    # A proposal of north-kiln looked up through the outsider's own studio is not there either.
    assert outsider.get(detail_url(proposal, slug="south-clay")).status_code == 404
    assert login(staff.viewer).post(queue_url()).status_code == 405
    assert login(staff.approver).get(detail_url(proposal, verb="approve")).status_code == 405


def test_anonymous_visitors_are_sent_to_sign_in(staff):
    response = Client().get(queue_url())
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_detail_shows_preview_input_hash_dry_run_and_verified_audit_trail(staff, login):
    proposal = propose(staff)
    response = login(staff.viewer).get(detail_url(proposal))
    body = response.content.decode()
    assert response.status_code == 200
    assert proposal.summary in body
    assert proposal.input_hash in body
    assert "studioBrainPilotOpsNotes" in body
    assert "Dry run not available: No enabled firestore_pilot connector" in body
    assert "Verified: 1 event" in body
    assert "proposal.submitted" in body


def test_viewers_see_the_detail_but_cannot_approve(staff, login):
    proposal = propose(staff)
    client = login(staff.viewer)
    assert 'name="rationale"' not in client.get(detail_url(proposal)).content.decode()
    response = client.post(
        detail_url(proposal, verb="approve"), {"rationale": "Viewer wants in badly"}
    )
    assert response.status_code == 403
    assert not Approval.objects.exists()


def test_an_approver_approves_with_a_rationale(staff, login):
    proposal = propose(staff)
    response = login(staff.approver).post(
        detail_url(proposal, verb="approve"), {"rationale": "Kiln 2 is free on Thursday"}
    )
    assert response.status_code == 302 and response["Location"] == detail_url(proposal)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    granted = AuditEvent.objects.get(studio=staff.studio, action="approval.granted")
    assert granted.request_id == response["X-Request-ID"]


def test_a_short_rationale_is_an_inline_error_and_nothing_changes(staff, login):
    proposal = propose(staff)
    client = login(staff.approver)
    response = client.post(detail_url(proposal, verb="reject"), {"rationale": "no"})
    assert response.status_code == 422
    assert "at least 10 characters" in response.content.decode()
    htmx = client.post(
        detail_url(proposal, verb="reject"), {"rationale": "no"}, headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 200 and htmx.content.decode().lstrip().startswith(
        '<section id="decision"'
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL


def test_a_denial_from_the_service_shows_inline_with_its_code(staff, login):
    proposal = propose(staff, actor=Actor.staff(staff.admin))
    response = login(staff.admin).post(
        detail_url(proposal, verb="approve"), {"rationale": "My own idea, approve"}
    )
    assert response.status_code == 422
    assert "SELF_APPROVAL" in response.content.decode()


def test_htmx_approval_redirects_the_client_to_the_fresh_detail(staff, login):
    proposal = propose(staff)
    response = login(staff.approver).post(
        detail_url(proposal, verb="approve"),
        {"rationale": "Kiln 2 is free on Thursday"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == detail_url(proposal)


def test_high_risk_approval_asks_for_the_password_after_ten_minutes(staff, login):
    proposal = propose(staff, "firestore.batch.close")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        client = Client()
        client.post(reverse("login"), {"username": "anna", "password": PASSWORD})
    with time_machine.travel(start + dt.timedelta(minutes=9), tick=False):
        assert 'name="password"' not in client.get(detail_url(proposal)).content.decode()
    with time_machine.travel(start + dt.timedelta(minutes=11), tick=False):
        assert 'name="password"' in client.get(detail_url(proposal)).content.decode()
        missing = client.post(
            detail_url(proposal, verb="approve"), {"rationale": "Shelf is empty, close it"}
        )
        assert missing.status_code == 422 and not Approval.objects.exists()
        wrong = client.post(
            detail_url(proposal, verb="approve"),
            {"rationale": "Shelf is empty, close it", "password": "not my password"},
        )
        assert (
            "That password is not correct" in wrong.content.decode()
            and not Approval.objects.exists()
        )
        right = client.post(
            detail_url(proposal, verb="approve"),
            {"rationale": "Shelf is empty, close it", "password": PASSWORD},
        )
        assert right.status_code == 302
    assert Approval.objects.filter(proposal=proposal).count() == 1
    assert AuditEvent.objects.filter(studio=None, action="auth.reauthenticated").count() == 1
    assert AuditEvent.objects.filter(studio=None, action="auth.login_failed").count() == 1


def test_medium_risk_approval_needs_no_password(staff, login):
    proposal = propose(staff)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)):
        assert (
            'name="password"'
            not in login(staff.approver).get(detail_url(proposal)).content.decode()
        )


def test_decisions_need_the_csrf_token(staff):
    proposal = propose(staff)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff.approver)
    response = client.post(
        detail_url(proposal, verb="approve"), {"rationale": "Kiln 2 is free on Thursday"}
    )
    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL
