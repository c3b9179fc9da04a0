"""Kill switches and execute denials in a real browser: an operator engages a switch from the
Policy page, the red banner follows every page, two admins release it; an agent's execute
refused for its delegation has a trace page staff can read. Screenshots in tests/artifacts."""

import datetime as dt
import json
import urllib.request
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from brain.models import Role
from governance.actors import Actor
from governance.services.proposals import proposal_submit
from tests.cockpit.browser import sign_in
from tests.conftest import mirror_batches
from tests.factories import MembershipFactory, StudioFactory, UserFactory
from tests.policy_support import issue, make_agent, make_delegation

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("clean_limits"),
]


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def api_post(base: str, token: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310  (the live server on loopback)
        f"{base}/api/v1{path}",
        data=json.dumps(body or {}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def studio_people():
    studio = StudioFactory(slug="north-kiln", name="North Kiln Ceramics")
    mirror_batches(studio)  # the batches the proposals name
    people = {
        name: MembershipFactory(user=UserFactory(username=name), studio=studio, role=role).user
        for name, role in (("ada", Role.ADMIN), ("abe", Role.ADMIN), ("otto", Role.OPERATOR))
    }
    return studio, people


def test_engage_the_banner_on_every_page_and_a_two_admin_release(live_server, page, studio_people):
    base = live_server.url
    sign_in(page, base, "otto", fresh=True)
    page.goto(f"{base}/s/north-kiln/policy/#kill-switches")
    expect(page.locator(".banner-danger")).to_have_count(0)
    expect(page.get_by_role("heading", name="No kill switch has been used")).to_be_visible()
    page.get_by_text("Engage a kill switch…").click()
    page.select_option("#ke_target", "studio")
    page.fill("#ke_reason", "Smoke alarm in the kiln room; stop all automation")
    page.get_by_role("button", name="Engage now").click()
    banner = page.locator(".banner-danger")
    expect(banner).to_contain_text("KILL SWITCH ON")
    expect(banner).to_contain_text("studio North Kiln Ceramics")
    for section in ("", "proposals/", "audit/", "state/"):
        page.goto(f"{base}/s/north-kiln/{section}")
        expect(page.locator(".banner-danger")).to_contain_text("Smoke alarm in the kiln room")
    shot(page, "kill-switch-banner")

    sign_in(page, base, "ada", fresh=True)
    page.goto(f"{base}/s/north-kiln/policy/#kill-switches")
    panel = page.locator("#kill-switches")
    expect(panel).to_contain_text("Smoke alarm in the kiln room")
    panel.get_by_text("Request release…").click()
    panel.locator("textarea").first.fill("Fire brigade checked the room; all clear")
    panel.get_by_role("button", name="Request release").click()
    expect(page.locator("#kill-switches")).to_contain_text("release requested by ada")
    expect(page.locator('#kill-switches [title="staff:ada"]').first).to_be_visible()
    expect(page.locator(".banner-danger")).to_have_count(1)  # one admin is not enough
    shot(page, "kill-switch-panel")

    sign_in(page, base, "abe", fresh=True)
    page.goto(f"{base}/s/north-kiln/policy/#kill-switches")
    panel = page.locator("#kill-switches")
    panel.get_by_text("Confirm release…").click()
    panel.locator("textarea").first.fill("Saw the brigade's note; releasing")
    panel.get_by_role("button", name="Confirm release").click()
    expect(page.locator(".banner-danger")).to_have_count(0)
    expect(page.locator("#kill-switches")).to_contain_text("release confirmed")
    shot(page, "kill-switch-released")


def test_an_execute_denied_for_its_delegation_has_a_readable_trace(
    live_server, page, studio_people
):
    studio, people = studio_people
    base = live_server.url
    agent = make_agent(studio, "ops-bot", "owner-ada", name="Ops Bot")
    now = timezone.now()
    make_delegation(
        studio,
        "ops-bot",
        "owner-ada",
        issued_at=now - dt.timedelta(days=10),
        expires_at=now - dt.timedelta(hours=2),
    )
    token = issue(people["ada"], agent)
    proposal = proposal_submit(
        studio=studio,
        capability_id="firestore.ops_note.append",
        input={"batch_id": "b1", "note": "Bisque load moved to kiln 2"},
        rationale="The kiln schedule changed this week",
        actor=Actor.staff(people["otto"]),
    )
    status, body = api_post(base, token, f"/proposals/{proposal.pk}/execute")
    assert (status, body["code"]) == (403, "DELEGATION_EXPIRED")

    sign_in(page, base, "ada", fresh=True)
    page.goto(f"{base}/s/north-kiln/policy/#denials")
    trace_link = page.locator(f"#denials a[href$='/policy/decisions/{body['decision_id']}/']")
    trace_link.click()
    expect(page.locator('[title="Reason code DELEGATION_EXPIRED"]').first).to_be_visible()
    expect(page.locator("main")).to_contain_text("ops-bot")
    shot(page, "denial-trace-execute-delegation")
