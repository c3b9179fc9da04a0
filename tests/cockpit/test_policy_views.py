"""Cockpit → Policy: method, permission, studio isolation, empty and populated states,
each action, re-authentication for the dangerous ones, and the denial trace page."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.auth_events import AUTHENTICATED_AT_SESSION_KEY
from governance.models import AgentClient, AgentToken, Delegation, Exemption, PolicyDecision
from governance.ratelimit import Endpoint
from governance.services.agent_submissions import SubmissionDenied, agent_proposal_submit
from governance.services.agents import resolve_actor
from governance.services.delegations import delegation_decision
from governance.services.exemptions import exemption_request
from governance.services.ratelimits import endpoint_limit_hit
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.governance.conftest import chain
from tests.policy_support import issue, make_agent, make_delegation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_limits")]

NOTE = "firestore.ops_note.append"


def url(name, *args, studio="north-kiln"):
    return reverse(f"cockpit:{name}", args=[studio, *args])


def fresh_login(user) -> Client:
    """A session that proved the password just now (signing in stamps it)."""
    client = Client()
    client.force_login(user)
    return client


def stale_login(user) -> Client:
    """A session whose last password proof is an hour old: dangerous actions ask again."""
    client = fresh_login(user)
    session = client.session
    session[AUTHENTICATED_AT_SESSION_KEY] = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    session.save()
    return client


@pytest.fixture
def populated(staff):
    """One of everything the page shows."""
    second_admin = MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user
    exemption = exemption_request(
        studio=staff.studio,
        capability_id=NOTE,
        justification="Open studio week: kiln notes",
        expires_at=timezone.now() + dt.timedelta(days=2),
        actor=Actor.staff(staff.admin),
    )
    agent = make_agent(staff.studio, "ops-bot", "owner-ada")
    delegation = make_delegation(staff.studio, "ops-bot", "owner-ada")
    actor = resolve_actor(issue(staff.admin, agent))
    denied = delegation_decision(actor=actor, capability_id=NOTE, resource_owner_id="owner-ben")
    with pytest.raises(SubmissionDenied) as blocked:
        agent_proposal_submit(
            actor=actor,
            capability_id=NOTE,
            input={"batch_id": "b2", "note": "Glaze the Disney characters on the mugs"},
            rationale="Customer asked for the design",
        )
    endpoint_limit_hit(
        studio_id=staff.studio.pk, endpoint=Endpoint.PROPOSAL_CREATE, actor=actor.as_actor()
    )
    return {
        "exemption": exemption,
        "agent": agent,
        "delegation": delegation,
        "denied": PolicyDecision.objects.get(pk=denied.detail["decision_id"]),
        "intake_id": blocked.value.intake_id,
        "second_admin": second_admin,
    }


# The page ---------------------------------------------------------------------------------


def test_the_empty_page_says_what_each_section_is_for(staff, login):
    response = login(staff.viewer).get(url("policy"))
    assert response.status_code == 200
    text = response.content.decode()
    for phrase in (
        "No exemptions",
        "No agents",
        "No delegations",
        "No counters running",
        "Nothing held for review",
        "No denials recorded",
    ):
        assert phrase in text
    assert "Issue a token" not in text and "Register a local agent" not in text


def test_the_populated_page_shows_each_kind_of_row(staff, login, populated):
    text = login(staff.admin).get(url("policy")).content.decode()
    assert "exemption" in text and "pending approval" in text
    assert "ops-bot" in text and "sbk_" in text
    assert "capability:firestore.ops_note.append:execute" in text
    assert "Create proposal" in text and "2 / 20" in text
    assert "ip_infringement" in text and "ip-brand-logo" in text
    assert "DELEGATION_OWNER_MISMATCH" in text
    assert url("policy_decision", populated["denied"].pk) in text
    assert "Issue a token" in text and "Register a local agent" in text


def test_the_page_costs_the_same_queries_however_much_it_shows(
    staff, login, populated, django_assert_max_num_queries
):
    client = login(staff.admin)
    client.get(url("policy"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(url("policy"))
    for n in range(4):
        agent = make_agent(staff.studio, f"bot-{n}", "owner-ada")
        make_delegation(staff.studio, f"bot-{n}", "owner-ada")
        issue(staff.admin, agent)
        exemption_request(
            studio=staff.studio,
            capability_id=NOTE,
            justification="Another week of notes",
            expires_at=timezone.now() + dt.timedelta(days=1),
            actor=Actor.staff(staff.admin),
        )
    with CaptureQueriesContext(connection) as large:
        client.get(url("policy"))
    assert len(large) == len(small)


def test_the_page_and_actions_refuse_the_wrong_method(staff, login):
    client = login(staff.admin)
    assert client.post(url("policy")).status_code == 405
    assert client.get(url("policy_agent_create")).status_code == 405
    assert client.get(url("policy_counter_reset")).status_code == 405


def test_another_studios_staff_get_404_for_the_page_and_its_rows(staff, login, populated):
    client = login(staff.outsider)
    assert client.get(url("policy")).status_code == 404
    assert client.get(url("policy_decision", populated["denied"].pk)).status_code == 404
    own = login(staff.outsider)
    # South Clay's admin asking for North Kiln's rows through their own studio: 404 too.
    assert (
        own.get(url("policy_decision", populated["denied"].pk, studio="south-clay")).status_code
        == 404
    )
    response = own.post(
        url("policy_delegation_revoke", populated["delegation"].pk, studio="south-clay"),
        {"reason": "Not my studio at all"},
    )
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(staff):
    response = Client().get(url("policy"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize(
    "name_args",
    [
        ("policy_agent_create", ()),
        ("policy_counter_reset", ()),
        ("policy_delegation_create", ()),
    ],
)
def test_admin_actions_are_403_for_approvers(staff, login, name_args):
    name, args = name_args
    assert login(staff.approver).post(url(name, *args), {}).status_code == 403


def test_the_counters_fragment_is_an_htmx_partial(staff, login, populated):
    client = login(staff.viewer)
    response = client.get(url("policy_counters"), HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert response.status_code == 200
    assert text.lstrip().startswith('<div id="counter-rows"') and "<html" not in text
    assert "Create proposal" in text
    plain = client.get(url("policy_counters"))
    assert plain.status_code == 302 and plain["Location"].endswith("#limits")


def test_an_htmx_request_for_the_page_gets_the_limits_fragment(staff, login, populated):
    response = login(staff.viewer).get(url("policy"), HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert text.lstrip().startswith('<section id="limits"') and "<html" not in text


def test_the_page_still_works_when_redis_is_down(staff, login, populated, redis_down):
    response = login(staff.viewer).get(url("policy"))
    assert response.status_code == 200
    assert "cannot be reached" in response.content.decode()


# Actions ----------------------------------------------------------------------------------


def test_issuing_a_token_asks_for_the_password_then_shows_it_once(staff, login, populated):
    agent = populated["agent"]
    client = stale_login(staff.admin)
    before = AgentToken.objects.count()
    response = client.post(url("policy_token_issue", agent.pk), {"expires_in_days": 30})
    assert response.status_code == 422
    assert "Your password" in response.content.decode()
    assert AgentToken.objects.count() == before
    response = client.post(
        url("policy_token_issue", agent.pk), {"expires_in_days": 30, "password": "wrong"}
    )
    assert response.status_code == 422 and "not correct" in response.content.decode()
    response = client.post(
        url("policy_token_issue", agent.pk), {"expires_in_days": 30, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = AgentToken.objects.order_by("-pk").first()
    text = response.content.decode()
    start = text.index(f"sbk_{token.prefix}_")
    clear = text[start : start + len(token.prefix) + 48]
    assert resolve_actor(clear).actor_id == "ops-bot"
    assert clear not in client.get(url("policy")).content.decode()  # never shown again
    assert chain(staff.studio.pk)[-1][1] == "agent.token_issued"
    # The password was just proved: the next dangerous action does not ask again.
    again = client.post(url("policy_token_issue", agent.pk), {"expires_in_days": 5})
    assert again.status_code == 200


def test_rotating_a_token_replaces_it(staff, populated):
    client = fresh_login(staff.admin)
    old = AgentToken.objects.get()
    response = client.post(url("policy_token_rotate", old.pk))
    assert response.status_code == 200 and "stopped working" in response.content.decode()
    old.refresh_from_db()
    assert old.revoked_reason == "rotated"


def test_revoking_a_token_needs_a_reason(staff, populated):
    client = fresh_login(staff.admin)
    token = AgentToken.objects.get()
    assert client.post(url("policy_token_revoke", token.pk), {"reason": "no"}).status_code == 422
    response = client.post(url("policy_token_revoke", token.pk), {"reason": "Leaked in a log file"})
    assert response.status_code == 302 and response["Location"].endswith("#agents")
    token.refresh_from_db()
    assert token.revoked_reason == "Leaked in a log file"


def test_an_admin_registers_a_local_agent_and_delegates_to_it(staff):
    client = fresh_login(staff.admin)
    response = client.post(url("policy_agent_create"), {"name": "Glaze Helper", "owner_id": "ada"})
    assert response.status_code == 302
    agent = AgentClient.objects.get()
    response = client.post(
        url("policy_delegation_create"),
        {"agent": agent.pk, "scopes": [f"capability:{NOTE}:execute"], "expires_in_days": 14},
    )
    assert response.status_code == 302, response.content
    delegation = Delegation.objects.get()
    assert (delegation.owner_id, delegation.scopes) == ("ada", [f"capability:{NOTE}:execute"])


def test_the_agent_form_offers_the_studios_members_as_staff_owner(staff):
    """Bug 11: the staff owner is a select of this studio's members, not free text."""
    client = fresh_login(staff.admin)
    form = client.get(url("policy")).context["agent_form"]
    owner = form.fields["owner_id"]
    assert [value for value, _ in owner.choices if value] == ["ada", "anna", "otto", "vera"]
    response = client.post(
        url("policy_agent_create"), {"name": "Glaze Helper", "owner_id": "oscar"}
    )
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert not AgentClient.objects.exists()


def test_approving_an_exemption_needs_a_second_admin_and_a_fresh_password(staff, login, populated):
    exemption = populated["exemption"]
    response = fresh_login(staff.admin).post(url("policy_exemption_approve", exemption.pk))
    assert response.status_code == 422 and "SELF_APPROVAL" in response.content.decode()
    client = stale_login(populated["second_admin"])
    assert client.post(url("policy_exemption_approve", exemption.pk)).status_code == 422
    response = client.post(url("policy_exemption_approve", exemption.pk), {"password": PASSWORD})
    assert response.status_code == 302
    assert chain(staff.studio.pk)[-1][1] == "exemption.approved"


def test_revoking_an_exemption_keeps_its_history_on_the_page(staff, populated):
    client = fresh_login(staff.admin)
    exemption = populated["exemption"]
    response = client.post(
        url("policy_exemption_revoke", exemption.pk), {"reason": "The week was cancelled"}
    )
    assert response.status_code == 302
    text = client.get(url("policy")).content.decode()
    assert "The week was cancelled" in text and "requested" in text and "revoked" in text


def test_a_local_revocation_of_a_delegation_is_shown_with_its_reason(staff, populated):
    client = fresh_login(staff.admin)
    delegation = populated["delegation"]
    response = client.post(
        url("policy_delegation_revoke", delegation.pk), {"reason": "Agent sent odd requests"}
    )
    assert response.status_code == 302
    text = client.get(url("policy")).content.decode()
    assert "revoked here" in text and "Agent sent odd requests" in text


def test_an_admin_resets_a_counter_through_htmx(staff, populated):
    from governance.ratelimit import limiter_counters

    client = fresh_login(staff.admin)
    key = limiter_counters(staff.studio.pk)[0].key
    response = client.post(url("policy_counter_reset"), {"key": key}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "No counters running" in response.content.decode()
    assert chain(staff.studio.pk)[-1][1] == "rate_limit.reset"


def test_a_reviewer_lets_an_intake_submission_through(staff, login, populated):
    client = login(staff.approver)
    review = populated["intake_id"]
    bad = client.post(
        url("policy_intake_decide", review),
        {"reason_code": "staff_override_licensed", "rationale": "ok"},
    )
    assert bad.status_code == 422
    response = client.post(
        url("policy_intake_decide", review),
        {"reason_code": "staff_override_licensed", "rationale": "Licensed design for this class"},
    )
    assert response.status_code == 302
    assert chain(staff.studio.pk)[-1][1:] == ("intake.override_granted", "staff_override_licensed")
    assert "proposal #" in client.get(url("policy")).content.decode()


def test_operators_cannot_decide_intake(staff, login, populated):
    response = login(staff.operator).post(
        url("policy_intake_decide", populated["intake_id"]),
        {"reason_code": "policy_reported", "rationale": "Reported to the lead"},
    )
    assert response.status_code == 403


# The trace page ---------------------------------------------------------------------------


def test_a_denial_trace_reads_in_plain_language(staff, login, populated):
    decision = populated["denied"]
    response = login(staff.viewer).get(url("policy_decision", decision.pk))
    text = response.content.decode()
    assert response.status_code == 200
    assert "DELEGATION_OWNER_MISMATCH" in text
    assert "The check that refused it: <strong>owner_matches_resource</strong>" in text
    assert "cannot act on another owner" in text
    assert text.count("trace-step") == 3


def test_an_unknown_decision_is_404(staff, login):
    assert login(staff.viewer).get(url("policy_decision", 99999)).status_code == 404


# Django admin -----------------------------------------------------------------------------


def test_exemptions_are_requested_and_approved_in_the_django_admin(staff, populated):
    User = get_user_model()
    for user in (staff.admin, populated["second_admin"]):
        User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    requester = fresh_login(staff.admin)
    expires = (timezone.now() + dt.timedelta(days=3)).astimezone(dt.UTC)
    response = requester.post(
        reverse("admin:governance_exemption_add"),
        {
            "studio": staff.studio.pk,
            "capability": "finance.reconciliation.adjust",
            "owner_id": "",
            "justification": "Month-end reconciliation sprint",
            "expires_at_0": expires.strftime("%Y-%m-%d"),
            "expires_at_1": expires.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    exemption = Exemption.objects.get(capability_id="finance.reconciliation.adjust")
    too_long = requester.post(
        reverse("admin:governance_exemption_add"),
        {
            "studio": staff.studio.pk,
            "capability": NOTE,
            "justification": "Far too long an exemption",
            "expires_at_0": (timezone.now() + dt.timedelta(days=30)).strftime("%Y-%m-%d"),
            "expires_at_1": "12:00:00",
        },
    )
    assert too_long.status_code == 200 and "at most 7 days" in too_long.content.decode()
    approver = fresh_login(populated["second_admin"])
    response = approver.post(
        reverse("admin:governance_exemption_change", args=[exemption.pk]),
        {
            "decision": "approve",
            "reason": "",
            "password": "",
            "events-TOTAL_FORMS": 1,
            "events-INITIAL_FORMS": 1,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    actions = [a for _, a, _ in chain(staff.studio.pk)]
    assert actions[-1] == "exemption.approved"
    assert "exemption.request_denied" in actions
