"""Passkeys as sudo mode's step-up, without a browser: a software authenticator
(tests/passkey_support.py) signs real assertions that py_webauthn checks.

Registration, removal, use and every refusal are audited; challenges are single-use, bound to
the user and session, and expire; sign counters must move; a studio that requires passkeys
refuses the password (and a password login does not count as a fresh step-up there).
"""

import datetime as dt
import json

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.auth_events import AUTHENTICATED_AT_SESSION_KEY, PASSKEY_AT_SESSION_KEY
from governance.models import Approval, AuditEvent, Passkey
from governance.services.exemptions import exemption_request
from governance.services.proposals import proposal_submit
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.passkey_support import SoftAuthenticator

pytestmark = pytest.mark.django_db

CLOSE = {"batch_id": "batch-42", "reason": "All pieces picked up last week"}


def signed_in(user, *, minutes_ago: int = 0, passkey_minutes_ago: int | None = None) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    now = timezone.now()
    session[AUTHENTICATED_AT_SESSION_KEY] = (now - dt.timedelta(minutes=minutes_ago)).isoformat()
    if passkey_minutes_ago is not None:
        at = now - dt.timedelta(minutes=passkey_minutes_ago)
        session[PASSKEY_AT_SESSION_KEY] = at.isoformat()
    session.save()
    return client


def make_stale(client: Client) -> None:
    session = client.session
    for key in (AUTHENTICATED_AT_SESSION_KEY, PASSKEY_AT_SESSION_KEY):
        session.pop(key, None)
    session.save()


def url(name: str, *args, slug: str = "north-kiln") -> str:
    return reverse(f"cockpit:{name}", args=[slug, *args])


def register(client: Client, authenticator: SoftAuthenticator, name: str = "work laptop"):
    options = client.post(url("passkey_register_options")).json()
    answer = authenticator.attest(options)
    return client.post(url("passkey_register"), {"name": name, "credential": answer})


def step_up_answer(client: Client, authenticator: SoftAuthenticator, **kwargs) -> str:
    response = client.post(url("passkey_step_up_options"))
    assert response.status_code == 200, response.content
    return authenticator.assert_(response.json(), **kwargs)


def high_risk(staff):
    return proposal_submit(
        studio=staff.studio,
        capability_id="firestore.batch.close",
        input=CLOSE,
        rationale="The kiln schedule changed this week",
        actor=Actor.system("ops-anomalies"),
    )


def approve(client: Client, proposal, **data):
    return client.post(
        url("proposal_approve", proposal.pk), {"rationale": "Shelf is empty, close it", **data}
    )


@pytest.fixture
def anna_key(staff):
    """anna (approver) with one registered passkey, signed in long ago."""
    authenticator = SoftAuthenticator()
    client = signed_in(staff.approver)
    assert register(client, authenticator).status_code == 302
    make_stale(client)
    return client, authenticator


def actions(studio=None, **filters) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(studio=studio, **filters)
        .exclude(action="auth.login")
        .order_by("pk")
        .values_list("action", "reason_code")
    )


def test_registering_a_passkey_keeps_its_public_key_and_audits_it(staff):
    authenticator = SoftAuthenticator()
    client = signed_in(staff.approver)

    response = register(client, authenticator)

    assert response.status_code == 302
    passkey = Passkey.objects.get(user=staff.approver)
    assert passkey.name == "work laptop" and bytes(passkey.credential_id) == (
        authenticator.credential_id
    )
    assert passkey.transports == ["internal"]
    event = AuditEvent.objects.get(action="passkey.registered")
    assert event.studio_id is None and event.target_id == str(passkey.pk)
    assert event.metadata["name"] == "work laptop"
    page = client.get(url("passkeys")).content.decode()
    assert "work laptop" in page and "never" in page


def test_the_passkeys_page_is_empty_at_first_and_says_a_passkey_needs_javascript(staff):
    page = signed_in(staff.viewer).get(url("passkeys")).content.decode()

    assert "You have no passkey yet" in page
    assert "Adding a passkey needs JavaScript" in page
    assert "Passkeys in North Kiln Ceramics" not in page  # the setting is for admins


def test_a_registration_answer_is_refused_when_its_challenge_was_used_or_is_from_elsewhere(staff):
    client = signed_in(staff.approver)
    options = client.post(url("passkey_register_options")).json()
    first = SoftAuthenticator()
    wrong_origin = client.post(
        url("passkey_register"),
        {"name": "phone", "credential": first.attest(options, origin="https://evil.example")},
    )
    assert wrong_origin.status_code == 422
    replay = client.post(
        url("passkey_register"), {"name": "phone", "credential": first.attest(options)}
    )
    assert replay.status_code == 422
    assert "expired or was already used" in replay.content.decode()
    assert not Passkey.objects.exists()
    assert actions() == [
        ("passkey.registered", "PASSKEY_INVALID"),
        ("passkey.registered", "PASSKEY_INVALID"),
    ]


def test_registration_without_a_browser_answer_says_it_needs_javascript(staff):
    response = signed_in(staff.approver).post(url("passkey_register"), {"name": "phone"})

    assert response.status_code == 422
    assert "needs JavaScript" in response.content.decode()
    assert not Passkey.objects.exists()


def test_registering_needs_a_recent_sign_in_by_password(staff):
    client = signed_in(staff.approver, minutes_ago=60)
    options = client.post(url("passkey_register_options")).json()
    answer = SoftAuthenticator().attest(options)

    refused = client.post(url("passkey_register"), {"name": "phone", "credential": answer})
    assert refused.status_code == 422 and not Passkey.objects.exists()

    options = client.post(url("passkey_register_options")).json()
    answer = SoftAuthenticator().attest(options)
    accepted = client.post(
        url("passkey_register"), {"name": "phone", "credential": answer, "password": PASSWORD}
    )
    assert accepted.status_code == 302 and Passkey.objects.count() == 1


def test_a_high_risk_approval_asks_for_the_passkey_and_accepts_it(staff, anna_key):
    client, authenticator = anna_key
    proposal = high_risk(staff)
    page = client.get(url("proposal_detail", proposal.pk)).content.decode()
    assert "data-passkey-options" in page and 'name="passkey_assertion"' in page
    assert "Or your password" in page

    response = approve(client, proposal, passkey_assertion=step_up_answer(client, authenticator))

    assert response.status_code == 302
    assert Approval.objects.filter(proposal=proposal, approver=staff.approver).count() == 1
    used = AuditEvent.objects.get(action="passkey.used")
    assert used.studio_id == staff.studio.pk and used.reason_code == ""
    assert used.metadata["sign_count"] == 1
    again = AuditEvent.objects.filter(studio=None, action="auth.reauthenticated").get()
    assert again.metadata["method"] == "passkey"
    passkey = Passkey.objects.get()
    assert passkey.sign_count == 1 and passkey.last_used_at is not None


def test_the_password_still_works_for_someone_with_a_passkey_where_it_is_allowed(staff, anna_key):
    client, _ = anna_key
    proposal = high_risk(staff)

    assert approve(client, proposal, password=PASSWORD).status_code == 302
    again = AuditEvent.objects.filter(action="auth.reauthenticated").get()
    assert again.metadata["method"] == "password"


def test_a_replayed_assertion_is_refused_and_audited(staff, anna_key):
    client, authenticator = anna_key
    first, second = high_risk(staff), high_risk(staff)
    answer = step_up_answer(client, authenticator)
    assert approve(client, first, passkey_assertion=answer).status_code == 302
    make_stale(client)

    replay = approve(client, second, passkey_assertion=answer)

    assert replay.status_code == 422
    assert "expired or was already used" in replay.content.decode()
    assert not Approval.objects.filter(proposal=second).exists()
    assert actions(staff.studio, action="passkey.used") == [
        ("passkey.used", ""),
        ("passkey.used", "PASSKEY_INVALID"),
    ]


def test_a_counter_that_does_not_move_is_refused(staff, anna_key):
    client, authenticator = anna_key
    first, second = high_risk(staff), high_risk(staff)
    assert (
        approve(client, first, passkey_assertion=step_up_answer(client, authenticator)).status_code
        == 302
    )
    make_stale(client)

    cloned = approve(
        client, second, passkey_assertion=step_up_answer(client, authenticator, count=False)
    )

    assert cloned.status_code == 422 and not Approval.objects.filter(proposal=second).exists()
    denied = AuditEvent.objects.filter(action="passkey.used", reason_code="PASSKEY_INVALID").get()
    assert "sign count" in denied.metadata["check"]
    assert Passkey.objects.get().sign_count == 1


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"origin": "https://brain.evil.example"}, "origin"),
        ({"rp_id": "evil.example"}, "RP ID"),
    ],
)
def test_an_assertion_for_another_site_is_refused(staff, anna_key, tamper, why):
    client, authenticator = anna_key
    proposal = high_risk(staff)

    response = approve(
        client, proposal, passkey_assertion=step_up_answer(client, authenticator, **tamper)
    )

    assert response.status_code == 422 and not Approval.objects.exists()
    denied = AuditEvent.objects.get(action="passkey.used", reason_code="PASSKEY_INVALID")
    assert why in denied.metadata["check"]


def test_a_forged_signature_is_refused(staff, anna_key):
    client, authenticator = anna_key
    proposal = high_risk(staff)
    answer = json.loads(step_up_answer(client, authenticator))
    answer["response"]["signature"] = answer["response"]["signature"][::-1]

    response = approve(client, proposal, passkey_assertion=json.dumps(answer))

    assert response.status_code == 422 and not Approval.objects.exists()
    assert actions(staff.studio, action="passkey.used") == [("passkey.used", "PASSKEY_INVALID")]


def test_garbage_in_the_assertion_field_is_a_form_error_not_a_500(staff, anna_key):
    client, _ = anna_key
    proposal = high_risk(staff)
    client.post(url("passkey_step_up_options"))

    response = approve(client, proposal, passkey_assertion="{not json")

    assert response.status_code == 422
    assert "PASSKEY_INVALID" in response.content.decode()


def test_someone_elses_passkey_does_not_prove_you(staff, anna_key):
    _, anna_authenticator = anna_key
    ada = signed_in(staff.admin, minutes_ago=60)
    proposal = high_risk(staff)
    ada_key = SoftAuthenticator()
    register(signed_in(staff.admin), ada_key)
    options = ada.post(url("passkey_step_up_options")).json()
    # anna's key answers ada's challenge: the signature is good, the key is not ada's.
    options["allowCredentials"] = []
    response = approve(ada, proposal, passkey_assertion=anna_authenticator.assert_(options))

    assert response.status_code == 422
    assert "not one of your registered passkeys" in response.content.decode()
    assert not Approval.objects.exists()


def test_an_expired_challenge_is_refused(staff, anna_key):
    client, authenticator = anna_key
    proposal = high_risk(staff)
    answer = step_up_answer(client, authenticator)

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=3)):
        make_stale(client)
        response = approve(client, proposal, passkey_assertion=answer)

    assert response.status_code == 422 and not Approval.objects.exists()
    assert "expired or was already used" in response.content.decode()


def test_a_challenge_belongs_to_the_session_it_was_issued_in(staff, anna_key):
    client, authenticator = anna_key
    other_session = signed_in(staff.approver, minutes_ago=60)
    proposal = high_risk(staff)

    response = approve(
        other_session, proposal, passkey_assertion=step_up_answer(client, authenticator)
    )

    assert response.status_code == 422 and not Approval.objects.exists()


@pytest.fixture
def passkeys_required(staff):
    staff.studio.require_approver_passkeys = True
    staff.studio.save()
    return staff.studio


def test_a_studio_that_requires_passkeys_refuses_the_password_and_audits_it(
    staff, anna_key, passkeys_required
):
    client, _ = anna_key
    proposal = high_risk(staff)
    page = client.get(url("proposal_detail", proposal.pk)).content.decode()
    assert "Confirm it is you with your passkey" in page and 'name="password"' not in page

    refused = approve(client, proposal, password=PASSWORD)

    assert refused.status_code == 422 and not Approval.objects.exists()
    assert "accepts only a passkey for this step, not the password" in refused.content.decode()
    assert actions(staff.studio, action="passkey.used") == [("passkey.used", "PASSKEY_REQUIRED")]


def test_where_passkeys_are_required_a_password_login_is_not_a_fresh_step_up(
    staff, anna_key, passkeys_required
):
    proposal = high_risk(staff)
    just_logged_in = signed_in(staff.approver)

    page = just_logged_in.get(url("proposal_detail", proposal.pk)).content.decode()

    assert 'name="passkey_assertion"' in page
    assert approve(just_logged_in, proposal).status_code == 422


def test_where_passkeys_are_required_someone_without_one_is_told_to_register(
    staff, passkeys_required
):
    proposal = high_risk(staff)
    client = signed_in(staff.approver, minutes_ago=60)

    page = client.get(url("proposal_detail", proposal.pk)).content.decode()
    refused = approve(client, proposal, password=PASSWORD)

    assert "you have none yet" in page and url("passkeys") in page
    assert "register one under Account → Passkeys" in refused.content.decode()
    assert not Approval.objects.exists()


def test_kill_switch_release_and_exemption_approval_get_the_same_step_up(
    staff, anna_key, passkeys_required
):
    exemption = exemption_request(
        studio=staff.studio,
        capability_id="firestore.ops_note.append",
        justification="Open studio week: kiln notes",
        expires_at=timezone.now() + dt.timedelta(days=2),
        actor=Actor.staff(staff.approver),
    )
    ada = signed_in(staff.admin, minutes_ago=60)
    policy = ada.get(url("policy")).content.decode()
    assert 'name="passkey_assertion"' in policy and "you have none yet" in policy

    refused = ada.post(url("policy_exemption_approve", exemption.pk), {"password": PASSWORD})

    assert refused.status_code == 422
    assert "accepts only a passkey" in refused.content.decode()


def test_removing_a_passkey_needs_a_step_up_and_is_audited(staff, anna_key):
    client, authenticator = anna_key
    passkey = Passkey.objects.get()

    refused = client.post(url("passkey_remove", passkey.pk))
    assert refused.status_code == 422 and Passkey.objects.exists()

    removed = client.post(
        url("passkey_remove", passkey.pk),
        {"passkey_assertion": step_up_answer(client, authenticator)},
    )

    assert removed.status_code == 302 and not Passkey.objects.exists()
    assert [a for a, _ in actions()] == [
        "passkey.registered",
        "auth.reauthenticated",
        "passkey.removed",
    ]


def test_nobody_removes_someone_elses_passkey(staff, anna_key):
    passkey = Passkey.objects.get()

    response = signed_in(staff.admin).post(url("passkey_remove", passkey.pk))

    assert response.status_code == 404 and Passkey.objects.exists()


def test_the_passkey_endpoints_check_method_login_and_studio(staff):
    client = signed_in(staff.approver)
    assert client.get(url("passkey_register_options")).status_code == 405
    assert client.get(url("passkey_step_up_options")).status_code == 405
    assert client.post(url("passkeys")).status_code == 405
    assert client.get(url("passkeys", slug="south-clay")).status_code == 404
    assert Client().get(url("passkeys")).status_code == 302
    none = client.post(url("passkey_step_up_options"))
    assert none.status_code == 409 and none.json()["code"] == "PASSKEY_NONE"


def test_only_admins_require_passkeys_and_the_change_is_audited(staff):
    approver = signed_in(staff.approver)
    assert approver.post(url("passkey_requirement"), {"required": "on"}).status_code == 403

    admin = signed_in(staff.admin)
    page = admin.get(url("passkeys")).content.decode()
    assert "Passkeys in North Kiln Ceramics" in page
    response = admin.post(url("passkey_requirement"), {"required": "on"})

    assert response.status_code == 302
    staff.studio.refresh_from_db()
    assert staff.studio.require_approver_passkeys
    event = AuditEvent.objects.get(studio=staff.studio, action="studio.passkeys_required")
    assert event.metadata == {"required": True}


def test_the_admin_refuses_an_exemption_approval_by_password_where_passkeys_are_required(
    staff, passkeys_required
):
    exemption = exemption_request(
        studio=staff.studio,
        capability_id="firestore.ops_note.append",
        justification="Open studio week: kiln notes",
        expires_at=timezone.now() + dt.timedelta(days=2),
        actor=Actor.staff(staff.approver),
    )
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    MembershipFactory(user=superuser, studio=staff.studio, role=Role.ADMIN)
    client = signed_in(superuser, minutes_ago=60)
    change = reverse("admin:governance_exemption_change", args=[exemption.pk])
    form = {
        "studio": staff.studio.pk,
        "capability": "firestore.ops_note.append",
        "owner_id": "",
        "justification": exemption.justification,
        "expires_at_0": exemption.expires_at.strftime("%Y-%m-%d"),
        "expires_at_1": exemption.expires_at.strftime("%H:%M:%S"),
        "decision": "approve",
        "password": PASSWORD,
    }

    response = client.post(change, form)

    assert "approve the exemption on the cockpit" in response.content.decode()
    assert actions(staff.studio, action="passkey.used") == [("passkey.used", "PASSKEY_REQUIRED")]


def test_a_page_full_of_step_up_boxes_asks_for_the_passkeys_once(staff):
    for day in range(3):
        exemption_request(
            studio=staff.studio,
            capability_id="firestore.ops_note.append",
            justification=f"Open studio week, day {day}",
            expires_at=timezone.now() + dt.timedelta(days=2),
            actor=Actor.staff(staff.approver),
        )
    ada = signed_in(staff.admin)
    register(ada, SoftAuthenticator())
    make_stale(ada)

    with CaptureQueriesContext(connection) as queries:
        page = ada.get(url("policy")).content.decode()

    assert page.count('name="passkey_assertion"') >= 3
    passkey_reads = [q for q in queries.captured_queries if "governance_passkey" in q["sql"]]
    assert len(passkey_reads) == 1


def test_the_passkeys_page_costs_the_same_with_one_key_or_three(staff, django_assert_num_queries):
    client = signed_in(staff.approver)
    register(client, SoftAuthenticator(), "laptop")
    with CaptureQueriesContext(connection) as one:
        client.get(url("passkeys"))
    # Read now: every request clears the connection's query log.
    one_key = len(one.captured_queries)
    register(client, SoftAuthenticator(), "phone")
    register(client, SoftAuthenticator(), "security key")

    with django_assert_num_queries(one_key):
        assert client.get(url("passkeys")).content.decode().count("Remove “") == 3
