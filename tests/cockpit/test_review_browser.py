"""The decision panel and bulk review in Debian's chromium, with and without JavaScript, at
1280 and 390 px. Screenshots of every state go to .shots/ (not committed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from brain.models import Role
from governance.enums import ProposalStatus, Risk
from governance.models import Proposal
from tests.cockpit.test_governance_browser import sign_in
from tests.factories import MembershipFactory, ProposalFactory, StudioFactory, UserFactory

SHOTS = Path(__file__).resolve().parent.parent.parent / ".shots"
WHY = "Routine ops notes, checked them all"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fits(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


@pytest.fixture
def people(db):
    studio = StudioFactory(slug="north-kiln", name="North Kiln Ceramics")
    users = {}
    for username, role in (
        ("otto", Role.OPERATOR),
        ("anna", Role.APPROVER),
        ("bea", Role.APPROVER),
    ):
        users[username] = UserFactory(username=username)
        MembershipFactory(user=users[username], studio=studio, role=role)
    return studio, users


def narrow(browser: Browser, base: str, username: str, *, javascript: bool = True) -> Page:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=javascript
    )
    page = context.new_page()
    sign_in(page, base, username)
    return page


def test_the_decision_panel_through_a_proposals_life(live_server, page: Page, browser, people):
    studio, _ = people
    proposal = ProposalFactory(studio=studio, approvals_required=2, summary="Add a kiln note")
    base = live_server.url
    detail = f"{base}/s/north-kiln/proposals/{proposal.pk}/"
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, "anna")
    page.goto(detail)
    panel = page.locator("#decision")
    expect(panel).to_contain_text("Your decision is needed · 2 more approvals to go")
    expect(panel).to_contain_text("May still approve: anna, bea")
    expect(panel).to_contain_text("Nothing can execute this yet.")
    expect(panel).to_contain_text("Expires in")
    shot(page, "detail-pending-needs-me-1280")

    page.fill("#approve_rationale", "Kiln 2 has room on Thursday")
    page.click("#decision button:has-text('Approve')")
    expect(panel).to_contain_text("You approved · waiting for 1 more approver (role approver)")
    expect(page.locator("#approve_rationale")).to_have_count(0)
    shot(page, "detail-i-approved-1280")

    phone = narrow(browser, base, "anna")
    try:
        phone.goto(detail)
        decision = phone.locator("#decision").bounding_box()
        trail = phone.locator("#audit-trail").bounding_box()
        assert decision and trail and decision["y"] < trail["y"], (decision, trail)
        fits(phone)
        shot(phone, "detail-i-approved-390")
    finally:
        phone.context.close()

    other = narrow(browser, base, "bea")
    try:
        other.goto(detail)
        other.fill("#approve_rationale", "Checked the kiln log too")
        other.click("#decision button:has-text('Approve')")
        expect(other.locator(".page-head .status")).to_have_text(re.compile("^approved$", re.I))
    finally:
        other.context.close()

    page.goto(detail)
    expect(panel).to_contain_text("2 of 2 approvals · quorum met")
    expect(panel).to_contain_text("You approved · quorum met")
    expect(page.locator("#execution")).to_contain_text("Cannot execute yet.")
    expect(page.locator("#execution")).to_contain_text("External writes are off on this runtime")
    expect(page.locator("#execution button")).to_have_count(0)
    # The gateway's reason fits its box (a long setting name wraps instead of overflowing).
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        blocker = page.locator("#execution .blocker")
        assert blocker.evaluate("box => box.scrollWidth <= box.clientWidth"), width
        fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, "detail-quorum-met-cannot-execute-1280")

    page.click("#decision summary:has-text('Withdraw my approval')")
    page.fill("#withdraw_rationale", "Kiln 2 is booked after all")
    page.click("#decision button:has-text('Withdraw approval')")
    expect(panel).to_contain_text("You withdrew your approval · you may decide again")
    expect(page.locator(".page-head .status")).to_have_text(re.compile("^pending approval$", re.I))
    shot(page, "detail-withdrawn-1280")


def test_the_requester_cancels_without_javascript_at_390(live_server, browser, people):
    studio, users = people
    proposal = ProposalFactory(
        studio=studio,
        requested_by_type="staff",
        requested_by_id=str(users["otto"].pk),
        requested_by_user=users["otto"],
        summary="Close batch 17",
        risk=Risk.HIGH,
        approvals_required=2,
    )
    page = narrow(browser, live_server.url, "otto", javascript=False)
    try:
        page.goto(f"{live_server.url}/s/north-kiln/proposals/{proposal.pk}/")
        expect(page.locator("#decision")).to_contain_text("You proposed this")
        # Without JavaScript the disclosure still opens: it is a plain <details>.
        page.click("#decision summary:has-text('Cancel this proposal')")
        page.fill("#cancel_rationale", "no")
        page.click("#decision button:has-text('Cancel proposal')")
        expect(page.locator("#decision .field-error")).to_contain_text("at least 10 characters")
        shot(page, "detail-cancel-error-nojs-390")
        page.fill("#cancel_rationale", "The batch was collected already")
        page.click("#decision button:has-text('Cancel proposal')")
        expect(page.locator("#decision")).to_contain_text("Cancelled by the person who proposed it")
        fits(page)
        shot(page, "detail-cancelled-nojs-390")
    finally:
        page.context.close()
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.CANCELLED


def queue_of(studio, users):
    made = [
        ProposalFactory(studio=studio, summary=f"Add an ops note to batch b-{n}") for n in range(6)
    ]
    made.append(
        ProposalFactory(
            studio=studio, risk=Risk.HIGH, approvals_required=2, summary="Close batch 17"
        )
    )
    made.append(
        ProposalFactory(
            studio=studio,
            requested_by_type="staff",
            requested_by_id=str(users["anna"].pk),
            requested_by_user=users["anna"],
            summary="Anna's own note",
        )
    )
    return made


def test_bulk_review_with_javascript_at_1280_and_390(live_server, page: Page, browser, people):
    studio, users = people
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, "anna")
    page.goto(f"{base}/s/north-kiln/proposals/")
    expect(page.get_by_text("Nothing waiting for a decision")).to_be_visible()
    shot(page, "queue-empty-1280")

    made = queue_of(studio, users)
    page.goto(f"{base}/s/north-kiln/proposals/")
    expect(page.locator("#queue tbody tr")).to_have_count(len(made))
    shot(page, "queue-normal-1280")

    page.fill("#id_q", "no-such-batch")
    page.press("#id_q", "Enter")
    expect(page.locator("#queue")).to_contain_text("Nothing matches “no-such-batch”")
    shot(page, "queue-search-no-result-1280")
    page.fill("#id_q", "b-3")
    page.press("#id_q", "Enter")
    expect(page.locator("#queue tbody tr")).to_have_count(1)

    page.goto(f"{base}/s/north-kiln/proposals/")
    for checkbox in page.locator("#queue input[name=proposal]").all():
        checkbox.check()
    page.fill("#bulk_rationale", WHY)
    page.click("#queue button:has-text('Approve selected')")
    result = page.locator("#queue .bulk-result")
    expect(result).to_contain_text("6 decided, 2 not.")
    expect(result).to_contain_text("is high risk: approve it on its own page")
    expect(result).to_contain_text("can never approve it")
    shot(page, "queue-bulk-result-denials-1280")
    assert Proposal.objects.filter(status=ProposalStatus.APPROVED).count() == 6

    phone = narrow(browser, base, "anna")
    try:
        phone.goto(f"{base}/s/north-kiln/proposals/?view=needs-me")
        expect(phone.locator("#queue tbody tr")).to_have_count(1)  # the high-risk one
        fits(phone)
        shot(phone, "queue-needs-me-390")
    finally:
        phone.context.close()


def test_bulk_review_without_javascript(live_server, browser, people):
    studio, users = people
    made = queue_of(studio, users)
    page = narrow(browser, live_server.url, "bea", javascript=False)
    try:
        page.goto(f"{live_server.url}/s/north-kiln/proposals/")
        page.click("text=Select all on this page")
        expect(page.locator("#queue input[name=proposal]:checked")).to_have_count(len(made))
        shot(page, "queue-select-all-nojs-390")
        page.fill("#bulk_rationale", WHY)
        page.click("#queue button:has-text('Reject selected')")
        expect(page.locator("#queue .bulk-result")).to_contain_text(f"{len(made)} decided.")
        fits(page)
        shot(page, "queue-bulk-result-nojs-390")
    finally:
        page.context.close()
    assert Proposal.objects.filter(status=ProposalStatus.REJECTED).count() == len(made)
