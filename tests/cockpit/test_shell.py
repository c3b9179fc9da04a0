"""The cockpit shell: navigation, principles, studio switcher, HTMX fragments, the Content
Security Policy and the pages for errors and empty states."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from brain.models import Role
from cockpit.views.shell import BUILT_SECTIONS, SECTIONS
from tests.factories import JobRunFactory, MembershipFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGES = ["overview", *[section.key for section in SECTIONS]]
PRINCIPLES = ["Cloud authoritative", "Local proposes", "Writes require approval"]
NAV = [
    "Overview",
    "State",
    "Proposals",
    "Connectors",
    "Finance",
    "Audit",
    "Policy",
    "Scorecard",
    "Notifications",
]


def page_url(page: str, studio: str = "north-kiln") -> str:
    return reverse(f"cockpit:{page}", kwargs={"studio": studio})


def nav_links(html: str) -> dict[str, str]:
    nav = re.search(r'<nav class="sections"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no section navigation"
    return {
        label: href
        for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))
    }


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_the_principles_and_the_section_navigation(login, staff, page):
    html = login(staff.viewer).get(page_url(page)).content.decode()

    for principle in PRINCIPLES:
        assert f'<li class="pill">{principle}</li>' in html
    links = nav_links(html)
    assert list(links) == NAV
    assert links["Overview"] == page_url("overview")
    for section in SECTIONS:
        assert links[section.title] == page_url(section.key)
    assert re.search(rf'<a href="{re.escape(page_url(page))}" aria-current="page">', html)


PLACEHOLDERS = [section for section in SECTIONS if section.key not in BUILT_SECTIONS]


@pytest.mark.parametrize("section", PLACEHOLDERS, ids=[s.key for s in PLACEHOLDERS])
def test_a_section_placeholder_says_what_will_be_there(login, staff, section):
    html = login(staff.viewer).get(page_url(section.key)).content.decode()

    assert f"<h1>{section.title}</h1>" in html
    assert "Not built yet" in html
    for item in section.coming:
        assert f"<li>{item}</li>" in html.replace("&#x27;", "'")


def test_the_login_page_shows_the_principles_but_no_navigation(client):
    html = client.get(reverse("login")).content.decode()

    for principle in PRINCIPLES:
        assert principle in html
    assert '<nav class="sections"' not in html
    assert 'name="username"' in html and 'name="password"' in html


def test_the_switcher_lists_only_the_users_studios(login, staff):
    StudioFactory(slug="west-wheel", name="West Wheel Pottery")
    html = login(staff.viewer).get(page_url("overview")).content.decode()

    switcher = re.search(r'<details class="switcher">(.*?)</details>', html, re.S).group(1)
    assert "North Kiln Ceramics" in switcher
    assert "South Clay Works" not in switcher
    assert "West Wheel Pottery" not in switcher


def test_the_switcher_lists_every_studio_of_a_member_of_several(login, staff):
    MembershipFactory(user=staff.viewer, studio=staff.other_studio, role=Role.OPERATOR)
    html = login(staff.viewer).get(page_url("overview")).content.decode()

    switcher = re.search(r'<details class="switcher">(.*?)</details>', html, re.S).group(1)
    assert re.findall(r'href="(/s/[^"]+)"', switcher) == [
        page_url("overview"),
        page_url("overview", "south-clay"),
    ]
    assert 'aria-current="true">North Kiln Ceramics' in switcher
    assert "operator" in switcher


def test_home_sends_staff_to_their_studio(login, staff):
    response = login(staff.operator).get(reverse("cockpit:home"))

    assert response.status_code == 302
    assert response["Location"] == page_url("overview")


def test_home_prefers_the_configured_default_studio(login, staff, settings):
    from brain.config import replace

    MembershipFactory(user=staff.viewer, studio=staff.other_studio)
    settings.BRAIN = replace(settings.BRAIN, default_studio="south-clay")

    assert login(staff.viewer).get(reverse("cockpit:home"))["Location"] == page_url(
        "overview", "south-clay"
    )


def test_home_explains_what_to_do_for_staff_without_a_studio(login, db):
    response = login(UserFactory(username="newcomer")).get(reverse("cockpit:home"))

    assert response.status_code == 200
    assert b"You are not a member of any studio yet" in response.content
    assert (
        b"manage.py staff add --studio SLUG --role viewer --username newcomer" in response.content
    )


def test_home_sends_anonymous_visitors_to_login(client):
    response = client.get(reverse("cockpit:home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- overview and its HTMX fragment -------------------------------------------------------


def add_runs(studio, count: int) -> None:
    now = timezone.now()
    for n in range(count):
        JobRunFactory(
            name=f"capture-{n}",
            studio=studio,
            job_id=f"j{n}",
            status="succeeded",
            started_at=now,
            summary={"documents": n},
        )


def test_the_overview_shows_an_empty_state_before_any_job_ran(login, staff):
    html = login(staff.viewer).get(page_url("overview")).content.decode()

    assert "No jobs have run for this studio yet." in html


def test_the_overview_lists_recent_job_runs_of_this_studio_only(login, staff):
    add_runs(staff.studio, 2)
    JobRunFactory(
        name="other-studio-job",
        studio=staff.other_studio,
        job_id="x",
        status="failed",
        started_at=timezone.now(),
        error="elsewhere",
    )

    html = login(staff.viewer).get(page_url("overview")).content.decode()

    assert "capture-0" in html and "capture-1" in html
    assert "other-studio-job" not in html
    assert '<span class="status status-succeeded">Succeeded</span>' in html


def test_job_times_are_shown_in_the_studios_time_zone(login, staff):
    staff.studio.timezone = "America/New_York"
    staff.studio.save()
    JobRunFactory(
        name="capture",
        studio=staff.studio,
        job_id="tz",
        status="succeeded",
        started_at=datetime(2026, 7, 1, 16, 30, tzinfo=UTC),
    )

    html = login(staff.viewer).get(page_url("overview")).content.decode()

    assert (
        '<td><time datetime="2026-07-01T16:30:00+00:00" title="2026-07-01 16:30 UTC">'
        "2026-07-01 12:30 EDT</time></td>"
    ) in html


def test_an_htmx_request_to_the_overview_returns_only_the_job_runs_fragment(login, staff):
    add_runs(staff.studio, 1)

    response = login(staff.viewer).get(page_url("overview"), headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="job-runs"')
    assert "<html" not in html
    assert "<nav" not in html
    assert "capture-0" in html


def test_the_job_runs_fragment_polls_and_keeps_working_without_javascript(login, staff):
    html = login(staff.viewer).get(page_url("overview")).content.decode()

    fragment = re.search(r'<div id="job-runs"[^>]*>', html).group(0)
    assert f'hx-get="{page_url("overview")}"' in fragment
    assert "data-poll" in fragment
    assert 'hx-trigger="every 30s"' in fragment


def test_the_overview_costs_the_same_queries_with_many_job_runs(login, staff):
    client = login(staff.viewer)
    add_runs(staff.studio, 1)
    with CaptureQueriesContext(connection) as few:
        client.get(page_url("overview"))
    add_runs(staff.studio, 15)
    with CaptureQueriesContext(connection) as many:
        client.get(page_url("overview"))

    assert len(many.captured_queries) == len(few.captured_queries)


# --- Content Security Policy --------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_sends_a_csp_whose_nonce_is_on_the_htmx_script(login, staff, page):
    response = login(staff.viewer).get(page_url(page))

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", policy).group(1)
    html = response.content.decode()
    htmx = re.search(r'<script[^>]*src="[^"]*htmx[^"]*"[^>]*>', html).group(0)
    assert f'nonce="{nonce}"' in htmx


@pytest.mark.parametrize("page", PAGES)
def test_no_page_carries_inline_styles_or_inline_scripts(login, staff, page):
    html = login(staff.viewer).get(page_url(page)).content.decode()

    assert "style=" not in html
    assert "<style" not in html
    for script in re.findall(r"<script[^>]*>", html):
        assert "src=" in script
    assert not re.search(r"\son[a-z]+=", html)


def test_the_nonce_changes_on_every_response(login, staff):
    client = login(staff.viewer)
    first = client.get(page_url("overview"))["Content-Security-Policy"]
    second = client.get(page_url("overview"))["Content-Security-Policy"]

    assert first != second


def test_the_login_page_sends_the_csp_too(client):
    response = client.get(reverse("login"))

    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


# --- error pages --------------------------------------------------------------------------


def test_the_404_page_is_a_calm_page_in_the_shell(login, staff):
    response = login(staff.viewer).get("/s/north-kiln/nowhere/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Not found</h1>" in html
    assert "belongs to a studio you are not a member of" in html
    assert "Cloud authoritative" in html


def test_the_500_page_renders_without_the_database_and_without_inline_styles(rf, staff):
    from cockpit.views.shell import server_error

    request = rf.get("/s/north-kiln/")
    request.user = staff.viewer
    with pytest.MonkeyPatch.context() as patch:
        # The error page must not depend on anything that may be the reason for the error.
        patch.setattr("brain.selectors.membership_list", _explode)
        patch.setattr("cockpit.context_processors.membership_list", _explode)
        response = server_error(request)

    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "style=" not in html
    assert "cockpit.css" in html


def _explode(*args, **kwargs):
    raise AssertionError("the 500 page touched the studio memberships")


def test_the_admin_role_label_is_used_in_the_403_page(login, staff):
    from cockpit.access import RoleRequired
    from cockpit.views.shell import permission_denied

    request = login(staff.viewer).get(page_url("overview")).wsgi_request
    response = permission_denied(request, RoleRequired(Role.APPROVER, staff.studio))

    assert response.status_code == 403
    assert b"needs the approver role in North Kiln Ceramics" in response.content
