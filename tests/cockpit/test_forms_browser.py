"""New proposal forms, the admin's pending-proposal queue and the exemption changelist in
Debian's chromium, with and without JavaScript, wide and narrow. Screenshots land in .shots/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from governance.actors import Actor
from governance.services.exemptions import exemption_request
from governance.services.proposals import proposal_submit

# console: the fixture that fails a test on any Content Security Policy report.
from tests.cockpit.test_browser import console, sign_in  # noqa: F401
from tests.factories import PASSWORD, ConnectorConfigFactory

SHOTS = Path(__file__).resolve().parents[2] / ".shots"
NOTE = "firestore.ops_note.append"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("console"),
]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def overflowing_columns(page: Page) -> list[str]:
    """Header cells of the admin's result table that end past the edge of what shows: the
    viewport or the results box (which scrolls sideways, hiding what overflows)."""
    return page.evaluate(
        """() => {
            const box = document.querySelector('#changelist .results');
            const edge = Math.min(window.innerWidth, box.getBoundingClientRect().right);
            return [...document.querySelectorAll('#result_list thead th')]
                .filter(th => th.getBoundingClientRect().right > edge + 1)
                .map(th => th.innerText.trim());
        }"""
    )


def test_the_exemption_changelist_fits_1280_px_and_searches(live_server, staff, page: Page):
    """Bug 7: at 1280 px the changelist cut its columns off."""
    for owner in ("owner-ben", "owner-kim"):
        exemption_request(
            studio=staff.studio,
            capability_id=NOTE,
            owner_id=owner,
            justification=f"Open studio week: kiln notes for {owner} without waiting",
            expires_at=timezone.now() + dt.timedelta(days=2),
            actor=Actor.staff(staff.admin),
        )
    page.set_viewport_size({"width": 1280, "height": 900})
    base = live_server.url
    sign_in(page, base, "ada", PASSWORD)
    page.goto(f"{base}/admin/governance/exemption/")
    expect(page.get_by_text("2 exemptions")).to_be_visible()
    shot(page, "admin-exemptions-1280.png")
    assert overflowing_columns(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.locator("#searchbar").fill("kim")
    page.locator("#changelist-search input[type=submit]").click()
    expect(page.get_by_text("1 result")).to_be_visible()
    shot(page, "admin-exemptions-1280-search.png")


HUB = {"host": "http://192.168.1.20", "app_id": 7, "command_allowlist": {"103": ["on", "off"]}}


def new_proposal(page: Page, base: str, description: str) -> None:
    page.goto(f"{base}/s/north-kiln/proposals/")
    page.get_by_role("link", name="New proposal").click()
    page.get_by_label(description).check()
    page.get_by_role("button", name="Next: fill in the details").click()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_an_ops_note_is_proposed_with_a_batch_lookup(live_server, staff, browser, javascript):
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    suffix = "" if javascript else "-nojs"
    base = live_server.url
    sign_in(page, base, "otto", PASSWORD)
    page.goto(f"{base}/s/north-kiln/proposals/")
    page.get_by_role("link", name="New proposal").click()
    expect(page.get_by_role("heading", name="1. What do you want to change?")).to_be_visible()
    shot(page, f"new-proposal-choose{suffix}.png")
    page.get_by_label("Append an ops note to a batch").check()
    page.get_by_role("button", name="Next: fill in the details").click()

    batch = page.get_by_label("Batch")
    batch.fill("nope-1")
    page.get_by_label("Note").fill("Bisque load moved to kiln 2")
    page.get_by_label("Why").fill("Kiln one is down this week")
    if javascript:
        # The lookup narrows the datalist as staff type; the preview follows the fields.
        batch.fill("batch-4")
        expect(page.locator("#batch_id-options option")).to_have_count(1)
        batch.fill("nope-1")
        expect(page.locator("#proposal-preview")).to_contain_text('"batch_id": "nope-1"')
    else:
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#proposal-preview")).to_contain_text('"batch_id": "nope-1"')
    if javascript:
        # The preview runs the submission's target check as staff type. (A refused htmx
        # submission answers 422, which htmx swaps once the global 4xx handling lands.)
        expect(page.locator("#proposal-preview .error-box")).to_contain_text(
            "The mirror holds no batch 'nope-1'"
        )
    else:
        page.get_by_role("button", name="Submit for approval").click()
        expect(page.locator("#field-batch_id .field-error")).to_contain_text(
            "The mirror holds no batch 'nope-1'"
        )
    shot(page, f"new-proposal-refused{suffix}.png")

    page.get_by_label("Batch").fill("batch-42")
    if not javascript:
        page.get_by_role("button", name="Preview").click()
    expect(page.locator("#proposal-preview")).to_contain_text("Add an ops note to batch batch-42")
    shot(page, f"new-proposal-ops-note-preview{suffix}.png")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_text("submitted for approval")).to_be_visible()
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_hubitat_command_picks_connector_and_device_at_390_px(
    live_server, staff, browser, javascript
):
    ConnectorConfigFactory(studio=staff.studio, kind="hubitat", name="hub1", settings=HUB)
    ConnectorConfigFactory(
        studio=staff.studio,
        kind="hubitat",
        name="hub2",
        settings={**HUB, "command_allowlist": {"201": ["on"]}},
    )
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    suffix = "" if javascript else "-nojs"
    base = live_server.url
    sign_in(page, base, "otto", PASSWORD)
    new_proposal(page, base, "Switch an allowlisted Hubitat device on or off")
    connector = page.get_by_label("Connector")
    connector.select_option("hub2")
    if javascript:
        # The device select follows the connector.
        expect(page.get_by_label("Device").locator("option")).to_have_count(2)
        page.get_by_label("Device").select_option("201")
    else:
        page.get_by_label("Device").select_option("103")  # every hub's devices, grouped
    page.get_by_label("Command").select_option("on")
    page.get_by_label("Why").fill("Heat the glaze room before the class")
    if not javascript:
        page.get_by_role("button", name="Submit for approval").click()
        expect(page.locator("#field-device_id .field-error")).to_contain_text(
            "not on hub2's command allowlist"
        )
        shot(page, "new-proposal-hubitat-refused-390-nojs.png")
        page.get_by_label("Device").select_option("201")
    else:
        expect(page.locator("#proposal-preview")).to_contain_text('"device_id": "201"')
        page.get_by_label("Device").select_option("")
        expect(page.locator("#proposal-preview")).to_contain_text("still missing")
        page.get_by_label("Device").select_option("201")
        expect(page.locator("#proposal-preview")).to_contain_text('"device_id": "201"')
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, f"new-proposal-hubitat-390{suffix}.png")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_text("submitted for approval")).to_be_visible()
    context.close()


def test_an_approver_decides_in_the_admin_queue(live_server, staff, page: Page):
    for by in (staff.operator, staff.approver):
        proposal_submit(
            studio=staff.studio,
            capability_id=NOTE,
            input={"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"},
            rationale="The kiln schedule changed",
            actor=Actor.staff(by),
        )
    page.set_viewport_size({"width": 1280, "height": 900})
    base = live_server.url
    sign_in(page, base, "anna", PASSWORD)
    page.goto(f"{base}/admin/governance/pendingproposal/")
    expect(page.get_by_text("2 pending proposals")).to_be_visible()
    assert overflowing_columns(page) == []
    shot(page, "admin-pending-queue.png")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("approve_selected")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Approve 2 proposals")).to_be_visible()
    page.get_by_label("Rationale").fill("Checked the batch and the note")
    shot(page, "admin-pending-approve-page.png")
    page.get_by_role("button", name="Approve 2").click()
    expect(page.get_by_text(": approved.")).to_be_visible()
    expect(page.get_by_text("SELF_APPROVAL")).to_be_visible()
    shot(page, "admin-pending-after.png")
