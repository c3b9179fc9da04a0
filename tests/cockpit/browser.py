"""What the browser tests share: signing in through the real login form."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.factories import PASSWORD


def sign_in(page: Page, base: str, username: str, *, fresh: bool = False) -> Page:
    """Sign ``username`` in through the login form (``fresh``: first drop the cookies of
    whoever was signed in on this page)."""
    if fresh:
        page.context.clear_cookies()
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page
