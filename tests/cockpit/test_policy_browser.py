"""Cockpit → Policy in a real browser: the empty page, a populated one, issuing a token
(shown once), and a denial trace read in plain language. Screenshots land in tests/artifacts."""

import datetime as dt
import json
import re
import urllib.request
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from brain.models import Role
from governance.actors import Actor
from governance.models import PolicyDecision
from governance.services.exemptions import exemption_request
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


def api_submit(base: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310  (the live server on loopback)
        f"{base}/api/v1/proposals",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_policy_page_empty_populated_and_a_denial_trace(live_server, page: Page):
    studio = StudioFactory(slug="north-kiln", name="North Kiln Ceramics")
    mirror_batches(studio)  # the batches the proposals name
    ada = MembershipFactory(user=UserFactory(username="ada"), studio=studio, role=Role.ADMIN).user
    MembershipFactory(user=UserFactory(username="abe"), studio=studio, role=Role.ADMIN)
    base = live_server.url

    sign_in(page, base, "ada")
    page.goto(f"{base}/s/north-kiln/policy/")
    expect(page.get_by_role("heading", name="No exemptions")).to_be_visible()
    expect(page.get_by_text("No counters running")).to_be_visible()
    shot(page, "policy-empty")

    # A cloud agent with a delegation from its owner, an exemption waiting for a second admin.
    agent = make_agent(studio, "ops-bot", "owner-ada", name="Ops Bot")
    make_delegation(studio, "ops-bot", "owner-ada")
    token = issue(ada, agent)
    exemption_request(
        studio=studio,
        capability_id="firestore.ops_note.append",
        justification="Open studio week: kiln notes without waiting",
        expires_at=timezone.now() + dt.timedelta(days=3),
        actor=Actor.staff(ada),
    )
    note = {"batch_id": "b1", "note": "Bisque load moved to kiln 2"}
    assert (
        api_submit(
            base,
            token,
            {
                "capability": "firestore.ops_note.append",
                "input": note,
                "rationale": "Kiln one is down",
            },
        )[0]
        == 201
    )
    status, denied = api_submit(
        base,
        token,
        {
            "capability": "firestore.ops_note.append",
            "input": note,
            "rationale": "Ben asked for it on his batch",
            "on_behalf_of": "owner-ben",
        },
    )
    assert (status, denied["code"]) == (403, "DELEGATION_OWNER_MISMATCH")
    status, blocked = api_submit(
        base,
        token,
        {
            "capability": "firestore.ops_note.append",
            "input": {"batch_id": "b2", "note": "Glaze the Disney characters on the mugs"},
            "rationale": "A customer wants the design",
        },
    )
    assert (status, blocked["code"]) == (403, "BLOCKED_BY_INTAKE_POLICY")

    page.goto(f"{base}/s/north-kiln/policy/")
    expect(page.locator("#exemptions tbody tr")).to_have_count(1)
    expect(page.locator("#intake article.review")).to_have_count(1)
    expect(page.locator("#denials tbody tr")).to_have_count(2)
    expect(page.locator("#counter-rows")).to_contain_text("Create proposal")
    shot(page, "policy-populated")

    # Issuing a token shows it once.
    page.locator("#agents summary", has_text="Issue a token").click()
    page.locator("#agents button", has_text="Issue token").click()
    expect(page.get_by_text("shown once and never again")).to_be_visible()
    shown = page.locator("#token-text").inner_text()
    assert re.fullmatch(r"sbk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", shown)
    shot(page, "policy-token-once")

    decision = PolicyDecision.objects.get(pk=denied["decision_id"])
    page.goto(f"{base}/s/north-kiln/policy/")
    # The row reads the denial's sentence; its code is on hover.
    row = page.locator(
        "#denials tr", has=page.locator('[title^="Reason code DELEGATION_OWNER_MISMATCH"]')
    )
    expect(row).to_contain_text(decision.message)
    row.get_by_role("link", name="Read the trace").click()
    expect(page).to_have_url(re.compile(rf"/policy/decisions/{decision.pk}/$"))
    expect(page.locator(".trace-fail")).to_have_count(1)
    expect(page.locator(".trace-fail")).to_contain_text("cannot act on another owner")
    shot(page, "policy-denial-trace")

    page.goto(f"{base}/s/north-kiln/policy/")
    review = page.locator("#intake article.review")
    review.locator("select").select_option("policy_confirmed_block")
    review.locator("textarea").fill("Not licensed: we do not copy brands")
    review.get_by_role("button", name="Decide").click()
    expect(page.get_by_text("kept blocked (policy_confirmed_block)")).to_be_visible()
    expect(page.get_by_text("Nothing held for review")).to_be_visible()
