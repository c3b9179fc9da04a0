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

# console: the fixture that fails a test on any Content Security Policy report.
from tests.cockpit.test_browser import console, sign_in  # noqa: F401
from tests.factories import PASSWORD

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
