"""The queue's search, saved filters and bulk review (plain form POST and htmx)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.actors import Actor
from governance.enums import ProposalStatus, Risk
from governance.models import AuditEvent, Proposal
from governance.services.approvals import approval_grant
from tests.factories import ProposalFactory, UserFactory

pytestmark = pytest.mark.django_db

WHY = {"rationale": "Routine ops notes, all checked"}


def queue(slug="north-kiln", **query):
    url = reverse("cockpit:proposals", args=[slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def bulk(slug="north-kiln", query=""):
    return reverse("cockpit:proposals_bulk", args=[slug]) + (f"?{query}" if query else "")


def listed(body, *proposals):
    return {p.pk for p in proposals if f'href="/s/north-kiln/proposals/{p.pk}/"' in body}


def test_search_finds_by_capability_target_requester_and_text(staff, login):
    note = ProposalFactory(
        studio=staff.studio,
        input={"batch_id": "batch-77", "note": "Glaze test"},
        summary="Add a note",
    )
    hub = ProposalFactory(
        studio=staff.studio,
        capability_id="hubitat.device.command",
        input={"connector": "hub1", "device_id": "kiln-fan", "command": "on"},
        summary="Switch on the fan",
        rationale="The kiln room is too warm",
    )
    mine = ProposalFactory(
        studio=staff.studio,
        requested_by_type="staff",
        requested_by_id=str(staff.operator.pk),
        requested_by_user=staff.operator,
        summary="Operator's own",
    )
    client = login(staff.viewer)

    def found(text):
        return listed(client.get(queue(q=text)).content.decode(), note, hub, mine)

    assert found("hubitat") == {hub.pk}  # capability
    assert found("KILN-FAN") == {hub.pk}  # target, any case
    assert found("batch-77") == {note.pk}
    assert found("otto") == {mine.pk}  # requester's username
    assert found("too warm") == {hub.pk}  # rationale, every word
    assert found("warm glaze") == set()  # words in different proposals
    assert found("Operator's") == {mine.pk}  # summary


def test_a_search_without_result_says_where_it_looked(staff, login):
    ProposalFactory(studio=staff.studio)
    body = login(staff.viewer).get(queue(q="nothing-like-this")).content.decode()
    assert "Nothing matches “nothing-like-this”" in body
    assert "the capability, the target and input, the requester" in body


def test_saved_filters_needs_me_high_risk_and_expiring_today(staff, login):
    mine = ProposalFactory(
        studio=staff.studio,
        requested_by_type="staff",
        requested_by_id=str(staff.approver.pk),
        requested_by_user=staff.approver,
    )
    decided = ProposalFactory(studio=staff.studio, approvals_required=2)
    approval_grant(
        proposal_id=decided.pk, actor=Actor.staff(staff.approver), rationale="Fine by me"
    )
    open_one = ProposalFactory(studio=staff.studio)
    risky = ProposalFactory(studio=staff.studio, risk=Risk.CRITICAL)
    soon = ProposalFactory(
        studio=staff.studio, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    )
    everyone = (mine, decided, open_one, risky, soon)
    client = login(staff.approver)

    def shown(view):
        return listed(client.get(queue(view=view)).content.decode(), *everyone)

    assert shown("needs-me") == {open_one.pk, risky.pk, soon.pk}
    assert shown("high-risk") == {risky.pk}
    assert shown("expiring-today") == {soon.pk}
    page = client.get(queue(view="high-risk")).content.decode()
    assert 'href="/s/north-kiln/proposals/?view=high-risk" aria-current="true"' in page


def test_bulk_approve_without_javascript_lists_what_happened_to_each(staff, login):
    fine = [ProposalFactory(studio=staff.studio) for _ in range(3)]
    risky = ProposalFactory(studio=staff.studio, risk=Risk.HIGH, summary="Close the kiln batch")
    response = login(staff.approver).post(
        bulk(), {"proposal": [p.pk for p in [*fine, risky]], "verb": "approve", **WHY}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "3 decided, 1 not." in body
    assert f"#{risky.pk}</a> Close the kiln batch: #{risky.pk} is high risk" in body
    assert 'title="Reason code BULK_NOT_ALLOWED"' in body
    assert Proposal.objects.filter(status=ProposalStatus.APPROVED).count() == 3
    assert AuditEvent.objects.filter(action="approval.granted").count() == 3
    assert AuditEvent.objects.filter(action="approval.grant_denied").count() == 1


def test_bulk_reject_with_htmx_answers_with_the_queue_fragment(staff, login):
    proposals = [ProposalFactory(studio=staff.studio) for _ in range(2)]
    response = login(staff.approver).post(
        bulk(query="view=needs-me"),
        {"proposal": [p.pk for p in proposals], "verb": "reject", **WHY},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<section id="queue"')
    assert "2 decided." in body and "Nothing needs your decision right now" in body
    assert Proposal.objects.filter(status=ProposalStatus.REJECTED).count() == 2


def test_a_bulk_form_error_decides_nothing_and_keeps_the_selection(staff, login):
    proposals = [ProposalFactory(studio=staff.studio) for _ in range(2)]
    client = login(staff.approver)
    short = client.post(
        bulk(), {"proposal": [proposals[0].pk], "verb": "approve", "rationale": "ok"}
    )
    body = short.content.decode()
    assert short.status_code == 422
    assert "Ensure this value has at least 10 characters" in body
    assert (
        f'value="{proposals[0].pk}" id="pick-{proposals[0].pk}" aria-label="Select #{proposals[0].pk}" checked'
        in body
    )
    none = client.post(bulk(), {"verb": "approve", **WHY})
    assert none.status_code == 422 and "Select at least one proposal." in none.content.decode()
    junk = client.post(bulk(), {"proposal": ["x"], "verb": "approve", **WHY})
    assert junk.status_code == 422
    too_many = client.post(bulk(), {"proposal": list(range(1, 102)), "verb": "approve", **WHY})
    assert "At most 100 proposals at once (you selected 101)." in too_many.content.decode()
    assert not Proposal.objects.exclude(status=ProposalStatus.PENDING_APPROVAL).exists()
    assert not AuditEvent.objects.filter(action__startswith="approval.").exists()


def test_select_all_ticks_every_box_on_the_page_without_javascript(staff, login):
    proposals = [ProposalFactory(studio=staff.studio) for _ in range(3)]
    body = login(staff.approver).get(queue(select="all")).content.decode()
    assert body.count('name="proposal"') == 3 and body.count(" checked>") == 3
    assert all(f'value="{p.pk}"' in body for p in proposals)


def test_viewers_get_no_boxes_and_may_not_post_and_outsiders_get_404(staff, login):
    proposal = ProposalFactory(studio=staff.studio)
    assert 'name="proposal"' not in login(staff.operator).get(queue()).content.decode()
    data = {"proposal": [proposal.pk], "verb": "approve", **WHY}
    assert login(staff.operator).post(bulk(), data).status_code == 403
    assert login(staff.outsider).post(bulk(), data).status_code == 404
    assert login(staff.approver).get(bulk()).status_code == 405
    # Another studio's number in the selection is not found, and nothing of it is written.
    theirs = ProposalFactory(studio=staff.other_studio)
    response = login(staff.outsider).post(
        bulk("south-clay"), {"proposal": [proposal.pk, theirs.pk], "verb": "approve", **WHY}
    )
    assert "1 decided, 1 not." in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL


def test_bulk_needs_the_csrf_token(staff):
    from django.test import Client

    proposal = ProposalFactory(studio=staff.studio)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff.approver)
    assert (
        client.post(bulk(), {"proposal": [proposal.pk], "verb": "approve", **WHY}).status_code
        == 403
    )


def test_a_stale_session_approves_in_bulk_without_a_password_because_high_risk_never_is(
    staff, login
):
    # Single approvals ask for the password only for high and critical risk; bulk never
    # approves those, so a session older than the window still approves low and medium.
    import time_machine

    medium = ProposalFactory(studio=staff.studio)
    risky = ProposalFactory(studio=staff.studio, risk=Risk.HIGH)
    client = login(staff.approver)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)):
        single = reverse("cockpit:proposal_detail", args=["north-kiln", risky.pk])
        assert 'name="password"' in client.get(single).content.decode()  # stale for one
        body = client.get(queue()).content.decode()
        assert 'name="password"' not in body
        response = client.post(
            bulk(), {"proposal": [medium.pk, risky.pk], "verb": "approve", **WHY}
        )
    assert "1 decided, 1 not." in response.content.decode()
    risky.refresh_from_db()
    assert risky.status == ProposalStatus.PENDING_APPROVAL


def test_the_searched_queue_costs_the_same_queries_for_5_or_60_rows(staff, login):
    client = login(staff.approver)

    def count(**query):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(queue(**query)).status_code == 200
        return len(queries)

    requester = UserFactory(username="kiln-bot-owner")
    for _ in range(5):
        ProposalFactory(studio=staff.studio, summary="Kiln note", requested_by_user=requester)
    small = (count(q="kiln"), count(view="needs-me"), count(q="kiln", per=100))
    for _ in range(55):
        ProposalFactory(studio=staff.studio, summary="Kiln note", requested_by_user=requester)
    assert (count(q="kiln"), count(view="needs-me"), count(q="kiln", per=100)) == small


def test_bulk_approval_through_the_page_costs_bounded_queries(staff, login):
    client = login(staff.approver)

    def run(n):
        ids = [ProposalFactory(studio=staff.studio).pk for _ in range(n)]
        with CaptureQueriesContext(connection) as queries:
            response = client.post(bulk(), {"proposal": ids, "verb": "approve", **WHY})
        assert f"{n} decided." in response.content.decode()
        return len(queries)

    run(1)  # the chain head
    ten, thirty = run(10), run(30)
    assert thirty - ten == 20  # one per proposal: its audit event; the rest are sets
    assert ten - 10 <= 35  # the batch's sets, and the page around it: session, queue, result
