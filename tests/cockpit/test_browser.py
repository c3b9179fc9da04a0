"""The cockpit in Debian's chromium: sign in through the real form, look at the pages, and
make sure the browser reports no Content Security Policy violation.

Screenshots land in tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, expect

from brain.models import Role
from tests.factories import PASSWORD, JobRunFactory, MembershipFactory

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


@pytest.fixture
def console(page: Page) -> Iterator[list[str]]:
    """Every console message and page error; the test fails on any CSP report among them."""
    messages: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        messages.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    yield messages
    violations = [m for m in messages if "Content Security Policy" in m or "Refused to" in m]
    assert violations == [], violations


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/")
    expect(page).to_have_url(f"{base_url}/login/?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_staff_sign_in_and_land_on_the_cockpit_home(live_server, staff, page: Page, console):
    base = live_server.url

    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    for principle in ("Cloud authoritative", "Local proposes", "Writes require approval"):
        expect(page.get_by_text(principle, exact=True)).to_be_visible()
    shot(page, "login.png")

    # Wrong password: the form says so and keeps the username.
    sign_in(page, base, "ada", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(page.get_by_label("Username")).to_have_value("ada")
    shot(page, "login-error.png")

    sign_in(page, base, "ada", PASSWORD)
    expect(page).to_have_url(f"{base}/s/north-kiln/")
    expect(page.get_by_role("heading", name="North Kiln Ceramics", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link")).to_have_text(
        [
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
    )
    expect(page.get_by_text("No jobs have run for this studio yet.")).to_be_visible()
    # htmx loaded under the nonce: the policy let it run.
    assert page.evaluate("typeof window.htmx") == "object"
    shot(page, "cockpit-home.png")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Scorecard").click()
    expect(page).to_have_url(f"{base}/s/north-kiln/scorecard/")
    expect(page.get_by_role("heading", name="Not built yet")).to_be_visible()
    shot(page, "section-scorecard.png")

    response = page.goto(f"{base}/s/no-such-studio/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    shot(page, "not-found.png")


def test_repeated_wrong_passwords_lock_the_account_with_a_clear_page(
    live_server, staff, page: Page, console, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(page, live_server.url, "otto", "not-the-password")

    expect(page.get_by_role("heading", name="Sign-in temporarily locked")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Wait 15 min and try again")
    shot(page, "login-locked.png")


def add_job_runs(studio) -> None:
    now = timezone.now()
    JobRunFactory(
        name="prune_job_runs",
        studio=studio,
        job_id="j1",
        status="succeeded",
        started_at=now - timedelta(minutes=30),
        finished_at=now,
        summary={"deleted": 14},
    )
    JobRunFactory(
        name="firestore_read",
        studio=studio,
        job_id="j2",
        status="failed",
        started_at=now - timedelta(minutes=20),
        finished_at=now,
        error="ConnectorError: UNAVAILABLE firestore did not answer within 10 s",
    )
    JobRunFactory(
        name="firestore_read",
        studio=studio,
        job_id="j3",
        status="skipped",
        started_at=now - timedelta(minutes=5),
        finished_at=now,
        summary={"reason": "already running for this studio"},
    )


def test_the_studio_switcher_is_a_plain_disclosure(live_server, staff, page: Page, console):
    MembershipFactory(user=staff.admin, studio=staff.other_studio, role=Role.VIEWER)
    add_job_runs(staff.other_studio)
    sign_in(page, live_server.url, "ada", PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/s/north-kiln/")

    page.locator("details.switcher > summary").click()
    expect(page.get_by_role("link", name="South Clay Works viewer")).to_be_visible()
    shot(page, "switcher-open.png")
    page.get_by_role("link", name="South Clay Works viewer").click()

    expect(page).to_have_url(f"{live_server.url}/s/south-clay/")
    expect(page.get_by_role("heading", name="South Clay Works", level=1)).to_be_visible()
    expect(page.locator("#job-runs tbody tr")).to_have_count(3)
    shot(page, "cockpit-home-with-jobs.png")


def test_the_cockpit_home_fits_a_narrow_screen(live_server, staff, browser, console):
    add_job_runs(staff.studio)
    MembershipFactory(user=staff.viewer, studio=staff.other_studio, role=Role.OPERATOR)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    narrow = context.new_page()
    narrow.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        sign_in(narrow, live_server.url, "vera", PASSWORD)
        expect(narrow).to_have_url(f"{live_server.url}/s/north-kiln/")
        expect(narrow.get_by_role("heading", name="North Kiln Ceramics", level=1)).to_be_visible()
        # Every section link is on screen, none hidden behind a sideways scroll.
        for link in narrow.get_by_role("navigation", name="Sections").get_by_role("link").all():
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (
                link.inner_text()
            )
        # Nothing wider than the screen: no sideways scrolling of the page.
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 390
        shot(narrow, "cockpit-home-narrow.png")

        narrow.locator("details.switcher > summary").click()
        studios = narrow.locator("details.switcher ul")
        expect(studios).to_be_visible()
        box = studios.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        narrow.screenshot(path=str(ARTIFACTS / "switcher-open-narrow.png"))
    finally:
        context.close()
