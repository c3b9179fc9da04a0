"""Kill switches in the cockpit: the red banner on every page of a covered studio, and the
Policy page's panel (engage for operators, two-admin release with re-authentication)."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.auth_events import AUTHENTICATED_AT_SESSION_KEY
from governance.models import KillSwitch
from governance.selectors.execution import engaged_kill_switch
from governance.services.kill_switches import kill_switch_engage, kill_switch_release_request
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db

HUB = "hubitat.device.command"
PAGES = ("overview", "proposals", "audit", "policy", "connectors")


def url(name, *args, studio="north-kiln"):
    return reverse(f"cockpit:{name}", args=[studio, *args])


def signed_in(user, *, stale=False) -> Client:
    client = Client()
    client.force_login(user)
    if stale:
        session = client.session
        session[AUTHENTICATED_AT_SESSION_KEY] = (timezone.now() - dt.timedelta(hours=1)).isoformat()
        session.save()
    return client


@pytest.fixture
def second_admin(staff):
    return MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_the_red_banner_while_a_switch_covers_the_studio(staff, page):
    client = signed_in(staff.viewer)
    assert 'class="banner banner-danger"' not in client.get(url(page)).content.decode()
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Smoke alarm in the kiln room")
    html = client.get(url(page)).content.decode()
    assert 'class="banner banner-danger"' in html
    assert "KILL SWITCH ON" in html and "Smoke alarm in the kiln room" in html


def test_another_studios_switch_shows_no_banner_here(staff):
    kill_switch_engage(
        actor=Actor.staff(staff.outsider),
        reason="Their studio is closed",
        studio=staff.other_studio,
    )
    html = signed_in(staff.viewer).get(url("overview")).content.decode()
    assert "banner-danger" not in html
    other = signed_in(staff.outsider).get(url("overview", studio="south-clay")).content.decode()
    assert "studio South Clay Works" in other


def test_the_banner_costs_one_query(staff, django_assert_num_queries):
    client = signed_in(staff.viewer)
    client.get(url("overview"))  # warm the session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as off:
        client.get(url("overview"))
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Smoke alarm in the kiln room")
    with CaptureQueriesContext(connection) as on:
        client.get(url("overview"))
    assert len(on) == len(off)  # the query runs either way; a switch being on adds none
    banner = [q for q in on.captured_queries if "governance_killswitchevent" in q["sql"]]
    assert len(banner) == 1


def test_an_operator_engages_from_the_policy_page_at_once(staff):
    client = signed_in(staff.operator)
    html = client.get(url("policy")).content.decode()
    assert "Engage a kill switch" in html and "Request release" not in html
    response = client.post(
        url("policy_kill_switch_engage"),
        {"target": f"capability:{HUB}", "reason": "Hub is misbehaving"},
    )
    assert response.status_code == 302 and response["Location"].endswith("#kill-switches")
    assert engaged_kill_switch(HUB).label == HUB
    assert chain(None)[-1][1] == "kill_switch.engaged"


def test_a_short_reason_re_renders_the_form_with_its_error(staff):
    response = signed_in(staff.operator).post(
        url("policy_kill_switch_engage"), {"target": "studio", "reason": "stop"}
    )
    assert response.status_code == 422
    assert not KillSwitch.objects.exists()


def test_viewers_cannot_engage(staff):
    response = signed_in(staff.viewer).post(
        url("policy_kill_switch_engage"), {"target": "global", "reason": "Viewer wants to stop"}
    )
    assert response.status_code == 403
    assert engaged_kill_switch(HUB) is None


def test_two_admins_release_with_fresh_passwords(staff, second_admin):
    switch = kill_switch_engage(
        actor=Actor.staff(staff.operator),
        reason="Open studio day, no automation",
        studio=staff.studio,
    )
    first = signed_in(staff.admin, stale=True)
    html = first.get(url("policy")).content.decode()
    assert "Request release" in html and "Your password" in html
    asked = first.post(
        url("policy_kill_switch_release", switch.pk, "request"),
        {"reason": "Open day is over now", "password": "wrong"},
    )
    assert asked.status_code == 422 and engaged_kill_switch(HUB, studio_id=staff.studio.pk)
    asked = first.post(
        url("policy_kill_switch_release", switch.pk, "request"),
        {"reason": "Open day is over now", "password": PASSWORD},
    )
    assert asked.status_code == 302
    assert "a second admin confirms it" in first.get(url("policy")).content.decode()
    # The requester cannot confirm their own request.
    own = first.post(
        url("policy_kill_switch_release", switch.pk, "confirm"), {"reason": "Confirming it myself"}
    )
    assert own.status_code == 422 and "SELF_APPROVAL" in own.content.decode()
    second = signed_in(second_admin)
    assert "Confirm release" in second.get(url("policy")).content.decode()
    done = second.post(
        url("policy_kill_switch_release", switch.pk, "confirm"), {"reason": "Checked: doors closed"}
    )
    assert done.status_code == 302
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk) is None
    assert "banner-danger" not in second.get(url("overview")).content.decode()


def test_operators_cannot_release_and_another_studios_switch_is_a_404(staff):
    switch = kill_switch_engage(
        actor=Actor.staff(staff.outsider),
        reason="Their studio is closed",
        studio=staff.other_studio,
    )
    kill_switch_release_request(
        actor=Actor.staff(staff.outsider), reason="Reopened this morning", studio=staff.other_studio
    )
    operator = signed_in(staff.operator).post(
        url("policy_kill_switch_release", switch.pk, "confirm"), {"reason": "Not mine to release"}
    )
    assert operator.status_code == 403
    admin = signed_in(staff.admin).post(
        url("policy_kill_switch_release", switch.pk, "confirm"), {"reason": "Not mine to release"}
    )
    assert admin.status_code == 404
    assert engaged_kill_switch(HUB, studio_id=staff.other_studio.pk) is not None
