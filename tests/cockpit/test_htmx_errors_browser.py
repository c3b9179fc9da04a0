"""Every htmx form shows its errors: with JavaScript (htmx swaps a 4xx answer instead of
dropping it) and without (the plain form post renders the page with the errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from brain.models import Membership, Role
from tests.cockpit.browser import sign_in

SHOTS = Path(__file__).resolve().parents[2] / ".shots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def submit_empty_proposal(page: Page, base: str) -> int | None:
    """Submit New proposal's ops-note form with nothing filled in; the status of the answer
    to the POST."""
    page.goto(f"{base}/s/north-kiln/proposals/new/?capability=firestore.ops_note.append")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Submit for approval").click()
    return answer.value.status


@pytest.mark.parametrize("width", [1280, 390])
def test_new_proposal_with_javascript_shows_the_field_errors(live_server, staff, page: Page, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "otto")
    assert page.evaluate("typeof window.htmx") == "object"

    status = submit_empty_proposal(page, live_server.url)

    assert status == 422
    form = page.locator("#proposal-form")
    expect(form).to_contain_text("This field is required.")
    expect(form.locator(".field-error").first).to_be_visible()
    # htmx swapped the form in place: still on the New proposal page.
    expect(page).to_have_url(
        f"{live_server.url}/s/north-kiln/proposals/new/?capability=firestore.ops_note.append"
    )
    shot(page, f"proposal-new-error-js-{width}")


@pytest.mark.parametrize("width", [1280, 390])
def test_new_proposal_without_javascript_shows_the_field_errors(
    live_server, staff, browser: Browser, width
):
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "otto")
        assert page.evaluate("typeof window.htmx") == "undefined"

        status = submit_empty_proposal(page, live_server.url)

        assert status == 422
        form = page.locator("#proposal-form")
        expect(form).to_contain_text("This field is required.")
        expect(page.get_by_role("heading", name="New proposal")).to_be_visible()
        shot(page, f"proposal-new-error-nojs-{width}")
    finally:
        context.close()


def test_a_form_answered_with_not_allowed_shows_that_page_with_javascript(
    live_server, staff, page: Page
):
    """Finance's "Reconcile now" (hx-post) after the operator lost the role: the 403
    page is shown, where before the click silently did nothing."""
    sign_in(page, live_server.url, "otto")
    page.goto(f"{live_server.url}/s/north-kiln/finance/")
    Membership.objects.filter(user=staff.operator, studio=staff.studio).update(role=Role.VIEWER)

    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Reconcile now").click()

    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("operator", exact=True)).to_be_visible()
    # The whole page was replaced, not pasted inside the finance card: one page header.
    expect(page.locator("header.topbar")).to_have_count(1)
    shot(page, "finance-reconcile-not-allowed-js")


def test_a_form_answered_with_not_allowed_shows_that_page_without_javascript(
    live_server, staff, browser: Browser
):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "otto")
        page.goto(f"{live_server.url}/s/north-kiln/finance/")
        Membership.objects.filter(user=staff.operator, studio=staff.studio).update(role=Role.VIEWER)
        page.get_by_role("button", name="Reconcile now").click()
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        shot(page, "finance-reconcile-not-allowed-nojs")
    finally:
        context.close()
