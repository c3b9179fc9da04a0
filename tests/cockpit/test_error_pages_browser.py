"""The error pages and the Django admin as a studio admin, in Debian's chromium, with DEBUG
off as under `make run`. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from governance.actors import Actor
from governance.services.exemptions import exemption_request

# console: the fixture that fails a test on any Content Security Policy report.
from tests.cockpit.test_browser import console, shot, sign_in  # noqa: F401
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("console"),
]


def test_staff_see_the_cockpits_404_and_500_pages(live_server, staff, page: Page, monkeypatch):
    base = live_server.url
    sign_in(page, base, "ada", PASSWORD)
    expect(page).to_have_url(f"{base}/s/north-kiln/")

    missing = page.goto(f"{base}/s/north-kiln/kilns/7/")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("heading", name="Not found", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Back to your studio")).to_be_visible()
    shot(page, "error-404.png")

    def crash(*args, **kwargs):
        raise RuntimeError("the kiln caught fire")

    monkeypatch.setattr("cockpit.views.shell.job_run_list", crash)
    crashed = page.goto(f"{base}/s/north-kiln/")
    assert crashed is not None and crashed.status == 500
    expect(page.get_by_role("heading", name="Something went wrong", level=1)).to_be_visible()
    expect(page.get_by_text(crashed.headers["x-request-id"])).to_be_visible()
    expect(page.get_by_text("the kiln caught fire")).to_have_count(0)
    shot(page, "error-500.png")


def test_a_studio_admin_uses_the_django_admin_for_their_studios_exemptions(
    live_server, staff, page: Page
):
    for studio, by in ((staff.studio, staff.admin), (staff.other_studio, staff.outsider)):
        exemption_request(
            studio=studio,
            capability_id="firestore.ops_note.append",
            justification=f"Kiln notes in {studio.name}",
            expires_at=timezone.now() + dt.timedelta(days=2),
            actor=Actor.staff(by),
        )
    base = live_server.url
    sign_in(page, base, "ada", PASSWORD)
    expect(page).to_have_url(f"{base}/s/north-kiln/")

    page.goto(f"{base}/admin/")
    expect(page.get_by_role("link", name="Exemptions")).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    shot(page, "admin-index-studio-admin.png")

    page.get_by_role("link", name="Exemptions").first.click()
    expect(page.get_by_text("1 exemption")).to_be_visible()
    expect(page.get_by_text("North Kiln Ceramics").first).to_be_visible()
    expect(page.get_by_text("South Clay Works")).to_have_count(0)
    shot(page, "admin-exemptions-studio-admin.png")
