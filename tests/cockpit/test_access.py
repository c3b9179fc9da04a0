"""Who may open which cockpit page: login, studio membership, minimum role, methods,
login throttling, idle session expiry and the admin's configurable path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from brain.models import Role
from cockpit.access import RoleRequired, studio_view
from cockpit.views.shell import SECTIONS, permission_denied
from governance.login_lockout import LOCKOUT_PARAMETERS
from tests.factories import PASSWORD, MembershipFactory

ROOT = Path(__file__).resolve().parents[2]

PAGES = ["overview", *[section.key for section in SECTIONS]]


def page_url(page: str, studio: str = "north-kiln") -> str:
    return reverse(f"cockpit:{page}", kwargs={"studio": studio})


def without_tokens(html: str) -> str:
    """The page minus what differs per response (CSP nonce, CSRF token)."""
    html = re.sub(r'nonce="[^"]+"', 'nonce=""', html)
    html = re.sub(
        r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken" value=""', html
    )
    return re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": ""', html)


def test_the_cockpit_has_an_overview_and_seven_sections():
    assert PAGES == [
        "overview",
        "state",
        "proposals",
        "connectors",
        "finance",
        "audit",
        "policy",
        "scorecard",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitors_are_sent_to_login(client, studio, page):
    response = client.get(page_url(page))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={page_url(page)}"


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_a_non_member_gets_the_same_404_as_for_a_studio_that_does_not_exist(login, staff, page):
    client = login(staff.outsider)

    not_member = client.get(page_url(page, "north-kiln"))
    no_such = client.get(page_url(page, "no-such-studio"))

    assert not_member.status_code == 404
    assert no_such.status_code == 404
    assert without_tokens(not_member.content.decode()) == without_tokens(no_such.content.decode())
    assert b"North Kiln" not in not_member.content


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "admin"])
def test_members_of_every_role_open_every_page(login, staff, page, role):
    response = login(getattr(staff, role)).get(page_url(page))

    assert response.status_code == 200
    assert response.context["current_studio"] == staff.studio
    assert response.context["current_membership"].get_role_display() == role


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_pages_refuse_post_with_405(login, staff, page):
    assert login(staff.viewer).post(page_url(page)).status_code == 405
    assert Client().post(page_url(page)).status_code == 405


@pytest.mark.django_db
def test_a_member_of_two_studios_opens_both(login, staff):
    MembershipFactory(user=staff.viewer, studio=staff.other_studio, role=Role.VIEWER)
    client = login(staff.viewer)

    assert client.get(page_url("overview", "north-kiln")).status_code == 200
    assert client.get(page_url("overview", "south-clay")).status_code == 200


@pytest.mark.django_db
def test_a_studio_outside_the_served_list_is_404_even_for_members(login, staff, settings):
    from brain.config import replace

    settings.BRAIN = replace(settings.BRAIN, allowed_studios=("south-clay",))

    assert login(staff.admin).get(page_url("overview")).status_code == 404


# --- minimum role -------------------------------------------------------------------------


@studio_view(Role.ADMIN)
def admin_only(request):
    return HttpResponse(f"{request.studio.slug} as {request.membership.get_role_display()}")


def request_as(user):
    request = RequestFactory().get("/s/north-kiln/admin-only/")
    request.user = user
    return request


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator", "approver"])
def test_a_member_below_the_minimum_role_gets_a_403_naming_the_role_needed(staff, role):
    request = request_as(getattr(staff, role))

    with pytest.raises(RoleRequired) as denied:
        admin_only(request, studio="north-kiln")

    assert denied.value.needed == Role.ADMIN
    page = permission_denied(request, denied.value)
    assert page.status_code == 403
    text = page.content.decode()
    assert "This page needs the admin role in North Kiln Ceramics." in text
    assert "give you the <strong>admin</strong> role" in text


@pytest.mark.django_db
def test_a_member_with_the_minimum_role_gets_the_studio_on_the_request(staff):
    response = admin_only(request_as(staff.admin), studio="north-kiln")

    assert response.content == b"north-kiln as admin"


@pytest.mark.django_db
def test_the_role_check_never_reveals_another_studio(staff):
    from django.http import Http404

    with pytest.raises(Http404):
        admin_only(request_as(staff.outsider), studio="north-kiln")


@pytest.mark.django_db
def test_the_role_check_sends_anonymous_users_to_login(studio):
    response = admin_only(request_as(AnonymousUser()), studio="north-kiln")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- login throttling (django-axes) -------------------------------------------------------


def attempt(client: Client, username: str, password: str, address: str):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def is_locked(response) -> bool:
    return response.status_code == 429 and b"Sign-in temporarily locked" in response.content


@pytest.mark.django_db
def test_an_account_is_locked_at_the_address_its_wrong_passwords_came_from(staff):
    # Per username + address: tests/cockpit/test_login_lockout.py has the front-desk cases.
    limit = settings.AXES_FAILURE_LIMIT
    client = Client()
    for _ in range(limit - 1):
        response = attempt(client, "vera", "wrong-password", "198.51.100.1")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content

    locked = attempt(client, "vera", "wrong-password", "198.51.100.1")
    assert is_locked(locked)
    assert b"Too many failed sign-in attempts" in locked.content

    # Even the right password is refused there while the lockout lasts.
    assert is_locked(attempt(Client(), "vera", PASSWORD, "198.51.100.1"))


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(staff):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        attempt(Client(), "anna", "wrong-password", "198.51.100.30")
    assert attempt(Client(), "anna", PASSWORD, "198.51.100.30").status_code == 302

    for _ in range(limit - 1):
        response = attempt(Client(), "anna", "wrong-password", "198.51.100.30")
        assert not is_locked(response)
    assert attempt(Client(), "anna", PASSWORD, "198.51.100.30").status_code == 302


@pytest.mark.django_db
def test_the_lockout_ends_after_the_cooloff(staff):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(), "ada", "wrong-password", "198.51.100.40")
    assert is_locked(attempt(Client(), "ada", PASSWORD, "198.51.100.40"))

    with time_machine.travel(timedelta(seconds=1) + settings.BRAIN.login_lockout, tick=False):
        assert attempt(Client(), "ada", PASSWORD, "198.51.100.40").status_code == 302


def test_throttling_follows_the_config_contract():
    assert settings.BRAIN.login_failure_limit == settings.AXES_FAILURE_LIMIT
    assert settings.BRAIN.login_lockout == settings.AXES_COOLOFF_TIME
    assert settings.AXES_LOCKOUT_PARAMETERS == LOCKOUT_PARAMETERS
    assert settings.AXES_HANDLER == "governance.login_lockout.StudioLockoutHandler"


@pytest.mark.django_db
def test_signing_out_ends_the_session(staff):
    client = Client()
    assert attempt(client, "vera", PASSWORD, "198.51.100.60").status_code == 302

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(page_url("overview")).status_code == 302


@pytest.mark.django_db
def test_signing_out_needs_post(login, staff):
    client = login(staff.viewer)

    assert client.get(reverse("logout")).status_code == 405
    assert client.get(page_url("overview")).status_code == 200


# --- idle session expiry ------------------------------------------------------------------


def test_sessions_expire_after_the_configured_inactivity():
    assert settings.BRAIN.session_idle_timeout.total_seconds() == settings.SESSION_COOKIE_AGE
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


@pytest.mark.django_db
def test_an_idle_session_is_rejected_and_an_active_one_is_kept(staff):
    client = Client()
    assert attempt(client, "vera", PASSWORD, "198.51.100.50").status_code == 302
    idle = settings.BRAIN.session_idle_timeout

    with time_machine.travel(idle * 0.75, tick=False):
        assert client.get(page_url("overview")).status_code == 200
    with time_machine.travel(idle * 1.5, tick=False):
        # Active 45 minutes ago (of 30 allowed since the last request): still signed in.
        assert client.get(page_url("overview")).status_code == 200
    with time_machine.travel(idle * 2.5 + timedelta(seconds=1), tick=False):
        response = client.get(page_url("overview"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- admin path ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_lives_at_the_configured_path(client):
    assert reverse("admin:index") == f"/{settings.BRAIN.admin_path}"
    response = client.get(f"/{settings.BRAIN.admin_path}")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/{settings.BRAIN.admin_path}login/")


def test_a_configured_admin_path_moves_the_admin():
    env = {**os.environ, "BRAIN_ADMIN_PATH": "ops-console/"}
    script = (
        "from django.urls import reverse, resolve; from django.urls.exceptions import Resolver404\n"
        "print(reverse('admin:index'))\n"
        "try:\n    resolve('/admin/'); print('admin/ still resolves')\n"
        "except Resolver404:\n    print('admin/ is gone')\n"
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["/ops-console/", "admin/ is gone"]
