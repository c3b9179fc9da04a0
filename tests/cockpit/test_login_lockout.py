"""Sign-in lockouts against the real login view: a studio's front desk shares one address,
so wrong passwords lock that username from that address, not everyone behind it. The
address itself locks only at a much higher ceiling (someone spraying many usernames), and a
wrong password in the re-auth box counts against its own user only."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.actors import Actor
from governance.auth_events import AUTHENTICATED_AT_SESSION_KEY
from governance.services.exemptions import exemption_request
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

FRONT_DESK = "198.51.100.10"


def attempt(username: str, password: str, address: str = FRONT_DESK, client: Client | None = None):
    return (client or Client()).post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def is_locked(response) -> bool:
    return response.status_code == 429 and b"Sign-in temporarily locked" in response.content


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] != reverse("login")


def test_five_wrong_passwords_lock_that_user_at_that_address_and_nobody_else(staff):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert not is_locked(attempt("otto", "wrong-password"))
    assert is_locked(attempt("otto", "wrong-password"))

    # Otto stays locked at the front desk, even with the right password...
    assert is_locked(attempt("otto", PASSWORD))
    # ...while a colleague at the same desk signs in,
    assert signed_in(attempt("anna", PASSWORD))
    # and Otto can still sign in from another address.
    assert signed_in(attempt("otto", PASSWORD, address="198.51.100.77"))


def test_a_colleague_signing_in_does_not_clear_anothers_lockout(staff):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt("otto", "wrong-password")
    assert signed_in(attempt("anna", PASSWORD))

    assert is_locked(attempt("otto", PASSWORD))


def test_the_address_ceiling_is_far_higher_and_still_stops_a_username_spray(staff):
    ceiling = settings.BRAIN.login_address_failure_limit
    assert ceiling >= 5 * settings.AXES_FAILURE_LIMIT

    # Many different usernames, each guessed fewer times than the per-user limit...
    for n in range(ceiling - 1):
        response = attempt(f"guess{n % 20}-{n // 20}", "wrong-password", address="203.0.113.5")
        assert not is_locked(response), n
    assert is_locked(attempt("guess-last", "wrong-password", address="203.0.113.5"))

    # ...lock the address for everyone, the right password included,
    assert is_locked(attempt("anna", PASSWORD, address="203.0.113.5"))
    # and no other address.
    assert signed_in(attempt("anna", PASSWORD, address="203.0.113.6"))


@pytest.fixture
def reauth_box(staff):
    """The Policy page's exemption approval, which asks the admin's password again."""
    exemption = exemption_request(
        studio=staff.studio,
        capability_id="firestore.ops_note.append",
        justification="Open studio week: kiln notes",
        expires_at=timezone.now() + dt.timedelta(days=2),
        actor=Actor.staff(staff.admin),
    )
    client = Client(REMOTE_ADDR=FRONT_DESK)
    client.force_login(staff.approver)
    session = client.session
    session[AUTHENTICATED_AT_SESSION_KEY] = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    session.save()
    # Anna is an approver: make her an admin, so the second-admin approval applies.
    staff.approver.memberships.update(role=staff.admin.memberships.get().role)
    return client, reverse(
        "cockpit:policy_exemption_approve", args=[staff.studio.slug, exemption.pk]
    )


def test_a_wrong_reauth_password_does_not_lock_out_another_user(staff, reauth_box):
    client, url = reauth_box
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(url, {"password": "wrong-password"})
        assert response.status_code == 422
        assert b"That password is not correct." in response.content
    response = client.post(url, {"password": "wrong-password"})
    assert response.status_code == 422 and b"Too many wrong passwords" in response.content

    # Otto at the same desk signs in, and his own failures start from zero.
    assert signed_in(attempt("otto", PASSWORD))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert not is_locked(attempt("vera", "wrong-password"))
    assert signed_in(attempt("vera", PASSWORD))
    assert not AccessAttempt.objects.filter(username="otto").exists()


def test_guessing_in_the_reauth_box_is_still_throttled_for_that_user(staff, reauth_box):
    client, url = reauth_box
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"password": "wrong-password"})

    response = client.post(url, {"password": PASSWORD})

    assert response.status_code == 422
    assert b"Too many wrong passwords" in response.content
    assert is_locked(attempt("anna", PASSWORD))
