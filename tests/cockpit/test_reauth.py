"""Sudo mode has one window, BRAIN_REAUTH_WINDOW, and every password prompt names it: the
cockpit's policy forms, high-risk approvals and the Django admin's exemption approval."""

import dataclasses
import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from brain.config import load_config
from brain.models import Role
from governance.actors import Actor
from governance.auth_events import AUTHENTICATED_AT_SESSION_KEY
from governance.services.exemptions import exemption_request
from governance.services.proposals import proposal_submit
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NOTE = "firestore.ops_note.append"


@pytest.fixture(autouse=True)
def three_minute_window(settings):
    settings.BRAIN = dataclasses.replace(settings.BRAIN, reauth_window=dt.timedelta(minutes=3))


def signed_in_ago(user, minutes: int) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    at = timezone.now() - dt.timedelta(minutes=minutes)
    session[AUTHENTICATED_AT_SESSION_KEY] = at.isoformat()
    session.save()
    return client


@pytest.fixture
def pending_exemption(staff):
    return exemption_request(
        studio=staff.studio,
        capability_id=NOTE,
        justification="Open studio week: kiln notes",
        expires_at=timezone.now() + dt.timedelta(days=2),
        actor=Actor.staff(staff.admin),
    )


def test_the_window_defaults_to_ten_minutes():
    config = load_config(
        {
            "DJANGO_SECRET_KEY": "k" * 60,
            "DATABASE_URL": "postgres://d/x",
            "REDIS_URL": "redis://r/0",
        }
    )

    assert config.reauth_window == dt.timedelta(minutes=10)


def test_policy_forms_ask_again_after_the_configured_window_and_say_so(staff, pending_exemption):
    policy = reverse("cockpit:policy", args=[staff.studio.slug])

    inside = signed_in_ago(staff.admin, 2).get(policy).content.decode()
    outside = signed_in_ago(staff.admin, 4).get(policy).content.decode()

    assert 'name="password"' not in inside
    assert 'name="password"' in outside
    assert "your last one is more than 3 min old" in outside
    assert "10 minutes" not in outside


def test_a_high_risk_approval_names_the_configured_window(staff):
    proposal = proposal_submit(
        studio=staff.studio,
        capability_id="firestore.batch.close",
        input={"batch_id": "batch-42", "reason": "All pieces picked up last week"},
        rationale="The kiln schedule changed this week",
        actor=Actor.system("ops-anomalies"),
    )
    detail = reverse("cockpit:proposal_detail", args=[staff.studio.slug, proposal.pk])

    inside = signed_in_ago(staff.approver, 2).get(detail).content.decode()
    outside = signed_in_ago(staff.approver, 4).get(detail).content.decode()

    assert 'name="password"' not in inside
    assert (
        "High-risk approvals need a recent sign-in: your last one is more than 3 min old."
        in outside
    )


def test_the_admin_exemption_approval_names_the_configured_window(staff, pending_exemption):
    change = reverse("admin:governance_exemption_change", args=[pending_exemption.pk])

    text = signed_in_ago(staff.admin, 4).get(change).content.decode()

    assert "Needed to approve when your last sign-in is more than 3 min old." in text
    assert "10 minutes" not in text


def test_the_admin_asks_for_the_password_only_outside_the_window(staff, pending_exemption):
    second = MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user
    change = reverse("admin:governance_exemption_change", args=[pending_exemption.pk])
    approve = {"decision": "approve", "reason": "", "password": ""}

    refused = signed_in_ago(second, 4).post(change, approve)
    accepted = signed_in_ago(second, 2).post(change, approve)

    assert refused.status_code == 200
    assert "That password is not correct." in refused.content.decode()
    assert accepted.status_code == 302
