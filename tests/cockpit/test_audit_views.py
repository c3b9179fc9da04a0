import pytest
from django.db import connection
from django.urls import reverse

from governance.actors import Actor
from governance.services.approvals import approval_grant
from governance.services.proposals import proposal_submit

pytestmark = pytest.mark.django_db


def audit_url(slug="north-kiln", **query):
    url = reverse("cockpit:audit", args=[slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.fixture
def history(staff):
    proposal = proposal_submit(
        studio=staff.studio,
        capability_id="firestore.ops_note.append",
        input={"batch_id": "b-1", "note": "Moved to kiln 2"},
        rationale="Kiln one is down this week",
        actor=Actor.staff(staff.operator),
    )
    approval_grant(
        proposal_id=proposal.pk,
        actor=Actor.staff(staff.approver),
        rationale="Confirmed with the tech",
    )
    return proposal


def test_the_timeline_lists_events_newest_first_linking_to_their_subject(staff, login, history):
    body = login(staff.viewer).get(audit_url()).content.decode()
    assert body.index("approval.granted") < body.index("proposal.submitted")
    assert reverse("cockpit:proposal_detail", args=["north-kiln", history.pk]) in body
    assert 'id="chain-status"' in body and 'hx-trigger="load"' in body


def test_the_timeline_filters_by_action_actor_target_and_date(staff, login, history):
    client = login(staff.viewer)
    assert "proposal.submitted" not in client.get(audit_url(action="approval.")).content.decode()
    by_actor = client.get(audit_url(actor=f"staff:{staff.operator.pk}")).content.decode()
    assert "proposal.submitted" in by_actor and "approval.granted" not in by_actor
    assert (
        "approval.granted"
        in client.get(audit_url(target=f"proposal:{history.pk}")).content.decode()
    )
    assert (
        "No events match"
        in client.get(audit_url(since="2000-01-01", until="2000-01-02")).content.decode()
    )
    bad_range = client.get(audit_url(since="2026-02-02", until="2026-02-01")).content.decode()
    assert "The end date is before the start date" in bad_range


def test_the_chain_status_fragment_verifies_the_studio_chain(staff, login, history):
    client = login(staff.viewer)
    ok = client.get(
        reverse("cockpit:audit_verify", args=["north-kiln"]), headers={"HX-Request": "true"}
    )
    assert "Chain verified: 2 events" in ok.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE governance_auditevent SET actor_id = 'mallory' "
            "WHERE studio_id = %s AND sequence = 1",
            [staff.studio.pk],
        )
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER USER")
    broken = client.get(audit_url(verify=1)).content.decode()
    assert "Chain broken at sequence 1" in broken


def test_the_verify_link_without_htmx_verifies_inline(staff, login, history):
    response = login(staff.viewer).get(reverse("cockpit:audit_verify", args=["north-kiln"]))
    assert response.status_code == 302 and response["Location"].endswith("?verify=1")


def test_the_timeline_answers_htmx_with_the_fragment_and_has_an_empty_state(staff, login):
    client = login(staff.viewer)
    empty = client.get(audit_url()).content.decode()
    assert "No events yet" in empty
    fragment = client.get(audit_url(), headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section id="timeline"')


def test_outsiders_get_404_and_posts_405(staff, login, history):
    assert login(staff.outsider).get(audit_url()).status_code == 404
    assert login(staff.viewer).post(audit_url()).status_code == 405


def test_another_studios_events_never_show(staff, login, history):
    body = login(staff.outsider).get(audit_url(slug="south-clay")).content.decode()
    assert "No events yet" in body
