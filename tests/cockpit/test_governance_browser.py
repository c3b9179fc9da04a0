"""The approve flow in a real browser: submit by CLI, approve in the cockpit, see the audit."""

import datetime as dt
import json
import re
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from playwright.sync_api import Page, expect

from brain.models import Role
from governance.models import Proposal
from tests.cockpit.browser import sign_in
from tests.conftest import mirror_batches
from tests.factories import (
    PASSWORD,
    ConnectorConfigFactory,
    MembershipFactory,
    StudioFactory,
    UserFactory,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def cli_submit(capability, payload, rationale, as_user):
    out = StringIO()
    call_command(
        "proposal",
        "submit",
        "--studio",
        "north-kiln",
        "--capability",
        capability,
        "--input",
        json.dumps(payload),
        "--rationale",
        rationale,
        "--as",
        as_user,
        "--json",
        stdout=out,
    )
    return json.loads(out.getvalue())


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_approver_approves_in_the_browser_and_sees_it_audited(live_server, page: Page):
    studio = StudioFactory(slug="north-kiln", name="North Kiln Ceramics")
    mirror_batches(studio)  # the batches the proposals name
    ConnectorConfigFactory(  # and the hub and device the Hubitat command names
        studio=studio,
        name="hubitat",
        settings={"host": "http://192.168.1.20", "app_id": 7, "command_allowlist": {"12": ["off"]}},
    )
    for username, role in (
        ("otto", Role.OPERATOR),
        ("anna", Role.APPROVER),
        ("bea", Role.APPROVER),
    ):
        MembershipFactory(user=UserFactory(username=username), studio=studio, role=role)
    base = live_server.url

    sign_in(page, base, "anna")
    page.goto(f"{base}/s/north-kiln/proposals/")
    expect(page.get_by_text("Nothing waiting for a decision")).to_be_visible()
    shot(page, "proposals-queue-empty")

    note = cli_submit(
        "firestore.ops_note.append",
        {"batch_id": "batch-42", "note": "Bisque moved to kiln 2"},
        "Kiln one is down for repairs",
        "otto",
    )
    close = cli_submit(
        "firestore.batch.close",
        {"batch_id": "batch-17", "reason": "All pieces collected Monday"},
        "Batch still counts as active",
        "otto",
    )
    cli_submit(
        "hubitat.device.command",
        {"connector": "hubitat", "device_id": "12", "command": "off"},
        "Kiln room heater left on overnight",
        "agent:facilities-bot",
    )

    page.goto(f"{base}/s/north-kiln/proposals/")
    expect(page.locator("nav.sections .badge")).to_have_text("3")
    expect(page.locator("#queue tbody tr")).to_have_count(3)
    shot(page, "proposals-queue")

    page.click("text=Add an ops note to batch batch-42")
    expect(page.locator("#input-hash")).to_have_text(note["input_hash"])
    shot(page, "proposal-detail")

    # A too-short rationale is refused inline, without leaving the page.
    page.fill("#approve_rationale", "ok")
    page.click("#decision button:has-text('Approve')")
    expect(page.locator("#decision .field-error").first).to_be_visible()
    page.fill("#approve_rationale", "Kiln 2 has room on Thursday")
    page.click("#decision button:has-text('Approve')")
    expect(page.locator(".page-head .status")).to_have_text(re.compile("^approved$", re.IGNORECASE))
    expect(page.get_by_text("Verified: 2 events")).to_be_visible()
    shot(page, "proposal-approved")
    assert Proposal.objects.get(pk=note["id"]).status == "approved"

    # Eleven minutes later a high-risk approval asks for the password again.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    with time_machine.travel(later, tick=True):
        page.goto(f"{base}/s/north-kiln/proposals/{close['id']}/")
        expect(page.locator("#approve_password")).to_be_visible()
        shot(page, "proposal-reauth")
        page.fill("#approve_rationale", "Shelf checked, batch is empty")
        page.fill("#approve_password", PASSWORD)
        page.click("#decision button:has-text('Approve')")
        expect(page.get_by_text("1 of 2 approvals")).to_be_visible()

    page.goto(f"{base}/s/north-kiln/audit/")
    expect(page.get_by_text("Chain verified")).to_be_visible()
    shot(page, "audit")
