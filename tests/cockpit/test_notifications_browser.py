"""Screenshots of the Notifications page in its states at desktop and phone widths, through
Debian's chromium (saved under .shots/ and looked at by a person), and the no-JS path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from brain.config import replace
from brain.models import Role
from brain.notify.models import DeliveryStatus, EventKind, NotificationDelivery, Severity
from brain.notify.services import notify_emit, notify_fan_out
from governance.actors import Actor
from governance.services.notifications import webhook_endpoint_set
from tests.cockpit.browser import sign_in
from tests.factories import PASSWORD

SHOTS = Path(__file__).resolve().parents[2] / ".shots"
WIDTHS = (1280, 390)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(live_server, page, staff):
    return sign_in(page, live_server.url, "ada")


def shoot(page, live_server, name: str) -> list[str]:
    SHOTS.mkdir(exist_ok=True)
    texts = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/s/north-kiln/notifications/")
        page.screenshot(path=str(SHOTS / f"notifications-{name}-{width}.png"), full_page=True)
        if width < 640:  # the phone page is long: each section on its own, readable
            for section in ("preferences", "webhook", "deliveries"):
                page.locator(f"#{section}").screenshot(
                    path=str(SHOTS / f"notifications-{name}-{width}-{section}.png")
                )
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width}px overflows by {overflow}px"
        texts.append(page.inner_text("main"))
    return texts


@pytest.fixture
def set_up(staff, settings, monkeypatch):
    """Email on, a webhook whose secret is set, and a few deliveries in the log."""
    settings.BRAIN = replace(settings.BRAIN, email_host="127.0.0.1")
    monkeypatch.setenv("NORTH_KILN_HOOK_SECRET", "whsec-shot-0123456789")
    webhook_endpoint_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        url="https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        secret_env="NORTH_KILN_HOOK_SECRET",
        enabled=True,
    )
    now = timezone.now()
    for minutes, kind, title, severity in (
        (
            50,
            EventKind.PROPOSAL_NEEDS_APPROVAL,
            "Proposal #12 needs approval: Add an ops note to batch b-7",
            Severity.NORMAL,
        ),
        (
            20,
            EventKind.CONNECTOR_DOWN,
            "Connector hub1 has been down for 18 minutes",
            Severity.HIGH,
        ),
        (
            5,
            EventKind.KILL_SWITCH_ENGAGED,
            "Kill switch engaged: studio north-kiln",
            Severity.CRITICAL,
        ),
    ):
        event = notify_emit(
            studio_id=staff.studio.pk,
            kind=kind,
            severity=severity,
            title=title,
            link_path="/s/north-kiln/policy/#kill-switches",
            min_role=Role.OPERATOR,
            occurred_at=now - dt.timedelta(minutes=minutes),
        )
        notify_fan_out(event_id=event.pk, now=now - dt.timedelta(minutes=minutes))
    NotificationDelivery.objects.update(status=DeliveryStatus.SENT, attempts=1, sent_at=now)
    return staff


def test_notifications_empty(signed_in, live_server):
    for text in shoot(signed_in, live_server, "empty"):
        assert "Nothing sent yet." in text and "Email is off on this runtime" in text


def test_notifications_set_up(signed_in, live_server, set_up):
    for text in shoot(signed_in, live_server, "set-up"):
        assert "hooks.slack.com" in text and "XXXXXXXX" not in text
        assert "Connector hub1 has been down for 18 minutes" in text


def test_notifications_with_a_failed_delivery(signed_in, live_server, set_up):
    row = NotificationDelivery.objects.filter(user__username="anna").order_by("-pk").first()
    row.status, row.attempts = DeliveryStatus.FAILED, 5
    row.last_error = "the mail server answered 451"
    row.save()
    for text in shoot(signed_in, live_server, "failed"):
        assert "1 notification could not be delivered." in text
        assert "the mail server answered 451" in text


def test_preferences_save_without_javascript(browser, live_server, staff):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "vera")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/s/north-kiln/notifications/")
        page.uncheck("#id_snapshot_stale__email")
        page.check("#id_kill_switch_engaged__webhook")
        page.select_option("#id_digest_interval", "60")
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_load_state()
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "notifications-saved-nojs-390.png"), full_page=True)
        assert "Saved: these notifications reach you from now on." in page.inner_text("main")
        assert not page.is_checked("#id_snapshot_stale__email")
        assert page.is_checked("#id_kill_switch_engaged__webhook")
    finally:
        context.close()
