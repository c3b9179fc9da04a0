"""Staff pages use words, not codes: names instead of slugs and "staff:otto", reason codes
with their plain sentence, the circuit breaker's normal state in words and not in green.
The codes stay available on hover (``title``)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from brain.models import DriftFinding
from brain.state.warnings import scan_limit
from connectors.runtime import redis_client
from governance.actors import Actor
from governance.reasons import ReasonCode, explain
from governance.services.exemptions import exemption_request
from governance.services.kill_switches import kill_switch_engage
from governance.services.proposals import proposal_submit
from tests.cockpit.test_connectors_page import make_connector
from tests.factories import JobRunFactory, SnapshotFactory

pytestmark = pytest.mark.django_db

CSS = Path(__file__).resolve().parents[2] / "static" / "cockpit" / "cockpit.css"
OTTO = '<span class="actor" title="staff:otto">Otto Weber</span>'


@pytest.fixture
def named(staff):
    for user, first, last in ((staff.operator, "Otto", "Weber"), (staff.admin, "Ada", "Lind")):
        user.first_name, user.last_name = first, last
        user.save(update_fields=["first_name", "last_name"])
    return staff


def visible_text(html: str) -> str:
    """The page as read on screen: tags and their attributes (titles) removed."""
    return re.sub(r"<[^>]+>", " ", html)


def get(client, name, staff, *args) -> str:
    response = client.get(reverse(name, args=[staff.studio.slug, *args]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_actor_tag_names_people_agents_and_the_system():
    def render(subject):
        return Template("{% load cockpit_words %}{% actor subject %}").render(
            Context({"subject": subject})
        )

    assert (
        render("agent:ops-bot") == '<span class="actor" title="agent:ops-bot">Agent ops-bot</span>'
    )
    assert render("system:expire_proposals") == (
        '<span class="actor" title="system:expire_proposals">Studio Brain (expire proposals)</span>'
    )


def test_the_reason_filter_gives_the_sentence_and_keeps_the_code_on_hover():
    html = Template("{% load cockpit_words %}{{ code|reason }}").render(
        Context({"code": "WRITES_DISABLED"})
    )
    assert html.startswith('<span class="reason" title="Reason code WRITES_DISABLED">')
    assert "WRITES_DISABLED" not in visible_text(html)


def test_the_banner_and_policy_page_name_the_studio_and_the_person(named, login):
    kill_switch_engage(
        actor=Actor.staff(named.operator),
        reason="Smoke alarm in the kiln room",
        studio=named.studio,
    )
    html = get(login(named.viewer), "cockpit:policy", named)
    text = visible_text(html)
    assert "studio North Kiln Ceramics" in text and "Otto Weber" in text
    assert "studio north-kiln " not in text.replace("--studio north-kiln", "")
    assert "staff:otto" not in text
    assert 'title="staff:otto"' in html


def test_the_audit_page_names_the_actor_and_explains_the_reason(named, login):
    kill_switch_engage(
        actor=Actor.staff(named.operator),
        reason="Smoke alarm in the kiln room",
        studio=named.studio,
    )
    html = get(login(named.viewer), "cockpit:audit", named)
    assert OTTO in html
    text = visible_text(html)
    assert explain(ReasonCode.BLOCKED_BY_POLICY) in text
    assert "BLOCKED_BY_POLICY" not in text
    assert 'title="Reason code BLOCKED_BY_POLICY"' in html


def test_the_proposal_page_names_the_requester_in_its_header_and_audit_trail(named, login):
    proposal = proposal_submit(
        studio=named.studio,
        capability_id="firestore.ops_note.append",
        input={"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"},
        rationale="The kiln schedule changed this week",
        actor=Actor.staff(named.operator),
    )
    html = get(login(named.viewer), "cockpit:proposal_detail", named, proposal.pk)
    head = html[
        html.index('class="page-head"') : html.index("</header>", html.index('class="page-head"'))
    ]
    assert "Otto Weber" in head and "otto" not in visible_text(head).replace("Otto", "")
    trail = html[html.index("Audit trail") :]
    assert OTTO in trail
    assert "Allowed: every check passed." in visible_text(trail)


def test_the_policy_page_names_who_requested_an_exemption(named, login):
    exemption_request(
        studio=named.studio,
        capability_id="firestore.ops_note.append",
        justification="Open studio week: kiln notes",
        expires_at=timezone.now() + dt.timedelta(days=2),
        actor=Actor.staff(named.admin),
    )
    html = get(login(named.viewer), "cockpit:policy", named)
    history = html[html.index('id="exemptions"') :]
    assert "requested</strong> by " in history
    assert '<span class="actor" title="staff:ada">Ada Lind</span>' in history


def test_a_closed_breaker_says_calls_flow_normally_and_is_not_green(named, login):
    config = make_connector(named.studio, "hub1")
    try:
        html = get(login(named.viewer), "cockpit:connectors", named)
    finally:
        redis_client().delete(f"brain:breaker:{config.instance_id}")
    assert "Connector calls flowing normally" in html
    assert "Circuit breaker" not in visible_text(html)
    closed = re.search(r"\.breaker-closed\s*\{([^}]*)\}", CSS.read_text())
    assert closed is not None and "--ok" not in closed.group(1)


def test_the_overview_names_jobs_in_words(named, login):
    JobRunFactory(name="firestore_read", studio=named.studio, job_id="j1", status="succeeded")
    html = get(login(named.viewer), "cockpit:overview", named)
    assert '<span title="firestore_read">Firestore read</span>' in html
    assert "firestore_read" not in visible_text(html)


def test_the_state_page_names_warnings_by_collection_with_the_code_on_hover(named, login):
    SnapshotFactory(
        studio=named.studio,
        content={"diagnostics": {"warnings": [scan_limit("firestore", "batches", 50)]}},
    )
    text = visible_text(get(login(named.viewer), "cockpit:state", named))
    assert "Firestore batches" in text and "SCAN_LIMIT" not in text


def test_a_down_connector_says_why_without_its_error_code(named, login):
    config = make_connector(
        named.studio, "hub2", availability="down", error_code="UNAVAILABLE", message="no answer"
    )
    try:
        html = get(login(named.viewer), "cockpit:connectors", named)
    finally:
        redis_client().delete(f"brain:breaker:{config.instance_id}")
    assert 'title="Error code UNAVAILABLE"' in html
    assert "UNAVAILABLE" not in visible_text(html)


def test_engaging_the_studio_switch_confirms_it_by_the_studios_name(named, login):
    client = login(named.operator)
    response = client.post(
        reverse("cockpit:policy_kill_switch_engage", args=[named.studio.slug]),
        {"target": "studio", "reason": "Smoke alarm in the kiln room"},
        follow=True,
    )
    message = visible_text(response.content.decode())
    assert "The studio North Kiln Ceramics kill switch is on" in message
    assert "studio north-kiln kill switch" not in message


def test_the_drift_page_names_collections_in_words(named, login):
    snapshot = SnapshotFactory(studio=named.studio)
    DriftFinding.objects.create(
        studio=named.studio,
        snapshot=snapshot,
        drifts=[
            {"metric": "kilnFirings", "expected": 9, "observed": 40, "delta": 31, "ratio": 3.4}
        ],
        thresholds={},
        checked_at=timezone.now(),
    )
    html = get(login(named.viewer), "cockpit:state-drift", named)
    assert '<span title="kilnFirings">Kiln firings</span>' in html


def test_the_queue_names_the_capability_and_the_requester(named, login):
    from tests.governance.pilots import NOTE

    proposal_submit(
        studio=named.studio,
        capability_id="firestore.ops_note.append",
        input=NOTE,
        rationale="Needed for this week's firing schedule",
        actor=Actor.staff(named.operator),
    )
    html = get(login(named.approver), "cockpit:proposals", named)
    text = visible_text(html)
    assert "Append an ops note to a batch (pilot write)" in text
    assert "firestore.ops_note.append" not in text  # the id is on hover only
    assert 'title="firestore.ops_note.append"' in html
    assert "Otto Weber" in text and "otto" not in text.lower().replace("otto weber", "")
