"""Passkeys in a real browser: Chromium's virtual authenticator (CDP ``WebAuthn``) registers a
passkey on Account → Passkeys and then confirms a high-risk approval with it; a replayed
answer is refused and audited; a studio that requires passkeys refuses the password, with
and without JavaScript. Screenshots in .shots/ (desktop and 390 px).

WebAuthn needs a secure context and an RP ID that is a domain: pytest-django's live server
is http://localhost:<port>, so the RP ID is ``localhost`` and the origin the live server's.
"""

import dataclasses
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Browser, Page, expect

from brain.models import Role
from governance.actors import Actor
from governance.auth_events import AUTHENTICATED_AT_SESSION_KEY, PASSKEY_AT_SESSION_KEY
from governance.models import Approval, AuditEvent, Passkey
from governance.services.proposals import proposal_submit
from tests.conftest import mirror_batches
from tests.factories import PASSWORD, MembershipFactory, StudioFactory, UserFactory

SHOTS = Path(__file__).resolve().parent.parent.parent / ".shots"
NARROW = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def narrow_shot(page: Page, name: str, box: str = "") -> None:
    """The page at 390 px, and ``box`` alone (its decision panel) to read it at that width."""
    size = page.viewport_size
    page.set_viewport_size(NARROW)
    shot(page, f"{name}-390")
    if box:
        page.locator(box).screenshot(path=str(SHOTS / f"{name}-390-box.png"))
    if size:
        page.set_viewport_size(size)


def sign_in(page: Page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".account .user")).to_have_text(username)


def make_stale(page: Page) -> None:
    """As if the sign-in were long ago: sudo mode asks again."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=cookie["value"])
    session.pop(AUTHENTICATED_AT_SESSION_KEY, None)
    session.pop(PASSKEY_AT_SESSION_KEY, None)
    session.save()


def virtual_authenticator(page: Page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


@pytest.fixture
def origin(live_server, settings):
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.BRAIN = dataclasses.replace(
        settings.BRAIN, passkey_rp_id="localhost", passkey_origins=(live_server.url,)
    )
    return live_server.url


@pytest.fixture
def studio():
    studio = StudioFactory(slug="north-kiln", name="North Kiln Ceramics")
    mirror_batches(studio, "batch-17", "batch-18")  # the batches the proposals close
    for username, role in (("anna", Role.APPROVER), ("ada", Role.ADMIN)):
        MembershipFactory(user=UserFactory(username=username), studio=studio, role=role)
    return studio


def close_batch(studio, batch: str):
    return proposal_submit(
        studio=studio,
        capability_id="firestore.batch.close",
        input={"batch_id": batch, "reason": "All pieces collected Monday"},
        rationale="Batch still counts as active",
        actor=Actor.system("ops-anomalies"),
    )


def test_register_a_passkey_then_approve_with_it_and_a_replay_is_refused(
    origin, studio, page: Page
):
    base = origin
    virtual_authenticator(page)
    first, second = close_batch(studio, "batch-17"), close_batch(studio, "batch-18")
    sign_in(page, base, "anna")

    page.goto(f"{base}/s/north-kiln/account/passkeys/")
    expect(page.get_by_text("You have no passkey yet")).to_be_visible()
    expect(page.get_by_text("Name it, press the button")).to_be_visible()
    expect(page.get_by_text("Adding a passkey needs JavaScript")).to_be_hidden()
    shot(page, "passkeys-empty")
    narrow_shot(page, "passkeys-empty")

    page.fill("#pk_name", "work laptop")
    page.get_by_role("button", name="Add passkey").click()
    expect(page.get_by_text("Passkey “work laptop” registered")).to_be_visible()
    expect(page.locator(".passkey-list")).to_contain_text("work laptop")
    shot(page, "passkeys-one-key")
    narrow_shot(page, "passkeys-one-key")
    assert AuditEvent.objects.filter(action="passkey.registered", studio=None).count() == 1

    make_stale(page)
    bodies: list[str] = []
    page.on(
        "request",
        lambda request: (
            bodies.append(request.post_data or "")
            if request.method == "POST" and request.url.endswith(f"/{first.pk}/approve/")
            else None
        ),
    )
    page.goto(f"{base}/s/north-kiln/proposals/{first.pk}/")
    expect(page.get_by_text("Your passkey is asked for when you press the button")).to_be_visible()
    shot(page, "step-up-prompt")
    narrow_shot(page, "step-up-prompt", "#decision")
    page.fill("#approve_rationale", "Shelf checked, batch is empty")
    page.click("#decision button:has-text('Approve')")
    expect(page.get_by_text("1 of 2 approvals")).to_be_visible()

    assert Approval.objects.filter(proposal=first, approver__username="anna").count() == 1
    used = AuditEvent.objects.get(action="passkey.used")
    assert used.studio_id == studio.pk and used.reason_code == ""
    assert AuditEvent.objects.get(action="auth.reauthenticated").metadata["method"] == "passkey"
    assert AuditEvent.objects.filter(action="approval.granted", studio=studio).count() == 1
    assert Passkey.objects.get().last_used_at is not None

    # The same answer, sent again for another proposal once the window has passed: refused.
    make_stale(page)
    form = dict(parse_qsl(bodies[-1]))
    assert form["passkey_assertion"]
    replay = page.request.post(f"{base}/s/north-kiln/proposals/{second.pk}/approve/", form=form)
    assert replay.status == 422
    assert "expired or was already used" in replay.text()
    assert not Approval.objects.filter(proposal=second).exists()
    assert AuditEvent.objects.filter(action="passkey.used", reason_code="PASSKEY_INVALID").exists()


def test_a_studio_requiring_passkeys_refuses_the_password(origin, studio, page: Page):
    studio.require_approver_passkeys = True
    studio.save()
    proposal = close_batch(studio, "batch-17")
    sign_in(page, origin, "anna")

    page.goto(f"{origin}/s/north-kiln/proposals/{proposal.pk}/")
    box = page.locator("#decision .reauth")
    expect(box).to_contain_text("accepts only a passkey for this step, and you have none yet")
    expect(page.locator("#approve_password")).to_have_count(0)
    page.fill("#approve_rationale", "Shelf checked, batch is empty")
    page.click("#decision button:has-text('Approve')")
    expect(page.locator("#decision .field-error:visible")).to_contain_text(
        "register one under Account → Passkeys"
    )
    shot(page, "step-up-refused")
    narrow_shot(page, "step-up-refused", "#decision")
    assert not Approval.objects.exists()
    assert AuditEvent.objects.filter(
        action="passkey.used", reason_code="PASSKEY_REQUIRED", studio=studio
    ).exists()

    # The admin sees (and may change) the studio's rule on the same page.
    sign_in(page, origin, "ada")
    page.goto(f"{origin}/s/north-kiln/account/passkeys/")
    expect(page.locator("#studio-requirement")).to_contain_text("required")
    expect(page.locator("#preq_required")).to_be_checked()
    shot(page, "passkeys-admin-required")
    narrow_shot(page, "passkeys-admin-required")


def test_without_javascript_the_page_says_a_passkey_needs_it(
    origin, studio, browser: Browser, page: Page
):
    # anna registers a passkey with JavaScript on, then opens the proposal with it off.
    virtual_authenticator(page)
    sign_in(page, origin, "anna")
    page.goto(f"{origin}/s/north-kiln/account/passkeys/")
    page.fill("#pk_name", "work laptop")
    page.get_by_role("button", name="Add passkey").click()
    expect(page.get_by_text("Passkey “work laptop” registered")).to_be_visible()
    studio.require_approver_passkeys = True
    studio.save()
    proposal = close_batch(studio, "batch-17")

    context = browser.new_context(java_script_enabled=False)
    try:
        nojs = context.new_page()
        sign_in(nojs, origin, "anna")
        nojs.goto(f"{origin}/s/north-kiln/proposals/{proposal.pk}/")
        shot(nojs, "step-up-nojs")
        expect(nojs.get_by_text("A passkey needs JavaScript, which is off")).to_be_visible()
        nojs.fill("#approve_rationale", "Shelf checked, batch is empty")
        nojs.click("#decision button:has-text('Approve')")
        expect(nojs.locator("#decision .field-error:visible")).to_contain_text(
            "not the password: confirm with your passkey"
        )
        shot(nojs, "step-up-nojs-refused")
        nojs.goto(f"{origin}/s/north-kiln/account/passkeys/")
        expect(nojs.get_by_text("Adding a passkey needs JavaScript")).to_be_visible()
        shot(nojs, "passkeys-nojs")
    finally:
        context.close()
    assert not Approval.objects.exists()
