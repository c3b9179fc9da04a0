import datetime as dt

import pytest
import time_machine
from django.db import DatabaseError, transaction
from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.errors import Denied
from governance.models import Exemption, ExemptionState
from governance.reasons import ReasonCode
from governance.selectors.policy import exemption_active, exemption_list, exemption_state
from governance.services.exemptions import exemption_approve, exemption_request, exemption_revoke
from tests.factories import ExemptionEventFactory, ExemptionFactory, MembershipFactory, UserFactory
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db

NOTE = "firestore.ops_note.append"
T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def second_admin(staff):
    return MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user


@pytest.fixture
def request_exemption(staff):
    def _request(**kwargs):
        return exemption_request(
            studio=staff.studio,
            capability_id=kwargs.pop("capability_id", NOTE),
            justification=kwargs.pop("justification", "Kiln notes during the open studio week"),
            expires_at=kwargs.pop("expires_at", timezone.now() + dt.timedelta(days=3)),
            actor=Actor.staff(kwargs.pop("by", staff.admin)),
            **kwargs,
        )

    return _request


def test_a_requested_exemption_is_pending_and_grants_nothing(staff, request_exemption):
    exemption = request_exemption(owner_id="owner-ada")
    assert exemption_state(exemption) == ExemptionState.PENDING
    assert (
        exemption_active(studio_id=staff.studio.pk, capability_id=NOTE, owner_id="owner-ada")
        is None
    )
    assert list(exemption.events.values_list("kind", flat=True)) == ["requested"]
    assert chain(staff.studio.pk) == [(1, "exemption.requested", "ALLOWED")]


def test_another_admin_approves_and_the_gateway_finds_it_for_its_owner_only(
    staff, request_exemption, second_admin
):
    exemption = request_exemption(owner_id="owner-ada")
    exemption_approve(
        studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(second_admin)
    )
    found = exemption_active(studio_id=staff.studio.pk, capability_id=NOTE, owner_id="owner-ada")
    assert found == exemption
    assert exemption_active(studio_id=staff.studio.pk, capability_id=NOTE, owner_id="ben") is None
    assert (
        exemption_active(studio_id=staff.other_studio.pk, capability_id=NOTE, owner_id="owner-ada")
        is None
    )
    assert (
        exemption_active(
            studio_id=staff.studio.pk,
            capability_id="finance.reconciliation.adjust",
            owner_id="owner-ada",
        )
        is None
    )
    assert chain(staff.studio.pk) == [
        (1, "exemption.requested", "ALLOWED"),
        (2, "exemption.approved", "ALLOWED"),
    ]


def test_an_exemption_without_owner_covers_every_owner_but_an_owner_specific_one_wins(
    staff, request_exemption, second_admin
):
    blanket = request_exemption()
    specific = request_exemption(owner_id="owner-ada")
    for exemption in (blanket, specific):
        exemption_approve(
            studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(second_admin)
        )
    assert (
        exemption_active(studio_id=staff.studio.pk, capability_id=NOTE, owner_id="ben") == blanket
    )
    assert (
        exemption_active(studio_id=staff.studio.pk, capability_id=NOTE, owner_id="owner-ada")
        == specific
    )


def test_the_requester_can_never_approve_their_own_exemption(staff, request_exemption):
    exemption = request_exemption()
    with pytest.raises(Denied) as denied:
        exemption_approve(
            studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(staff.admin)
        )
    assert denied.value.code == ReasonCode.SELF_APPROVAL
    assert exemption_state(Exemption.objects.get()) == ExemptionState.PENDING
    assert chain(staff.studio.pk)[-1] == (2, "exemption.approve_denied", "SELF_APPROVAL")


def test_only_admins_approve(staff, request_exemption):
    exemption = request_exemption()
    with pytest.raises(Denied) as denied:
        exemption_approve(
            studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(staff.approver)
        )
    assert denied.value.code == ReasonCode.ROLE_REQUIRED


def test_approvers_may_request_but_operators_may_not(staff, request_exemption):
    assert request_exemption(by=staff.approver).requested_by == staff.approver
    with pytest.raises(Denied) as denied:
        request_exemption(by=staff.operator)
    assert denied.value.code == ReasonCode.ROLE_REQUIRED


@pytest.mark.parametrize("capability_id", ["firestore.batch.close", "hubitat.device.command"])
def test_high_risk_writes_can_never_be_exempted(staff, request_exemption, capability_id):
    with pytest.raises(Denied) as denied:
        request_exemption(capability_id=capability_id)
    assert denied.value.code == ReasonCode.EXEMPTION_NOT_ALLOWED
    assert not Exemption.objects.exists()
    assert chain(staff.studio.pk) == [(1, "exemption.request_denied", "EXEMPTION_NOT_ALLOWED")]


def test_even_a_row_written_around_the_service_never_exempts_a_high_risk_write(staff, second_admin):
    exemption = ExemptionFactory(
        studio=staff.studio,
        capability_id="firestore.batch.close",
        justification="Written straight into the table",
        expires_at=timezone.now() + dt.timedelta(days=1),
        requested_by=staff.admin,
        created_at=timezone.now(),
    )
    ExemptionEventFactory(
        exemption=exemption, kind="approved", actor=second_admin, occurred_at=timezone.now()
    )
    assert (
        exemption_active(
            studio_id=staff.studio.pk, capability_id="firestore.batch.close", owner_id=""
        )
        is None
    )


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"justification": "too short"}, ReasonCode.RATIONALE_REQUIRED, "rationale"),
        ({"expires_at": None}, ReasonCode.INPUT_INVALID, "expires_at"),
        ({"expires_at": T0 - dt.timedelta(minutes=1)}, ReasonCode.INPUT_INVALID, "expires_at"),
        (
            {"expires_at": T0 + dt.timedelta(days=7, seconds=1)},
            ReasonCode.INPUT_INVALID,
            "expires_at",
        ),
        (
            {"capability_id": "firestore.everything.delete"},
            ReasonCode.CAPABILITY_UNKNOWN,
            "capability",
        ),
    ],
)
def test_bad_requests_are_denied_and_audited(staff, request_exemption, kwargs, code, field):
    with time_machine.travel(T0, tick=False), pytest.raises(Denied) as denied:
        request_exemption(**kwargs)
    assert denied.value.code == code
    assert field in denied.value.field_errors
    assert not Exemption.objects.exists()
    assert chain(staff.studio.pk) == [(1, "exemption.request_denied", code)]


def test_the_longest_exemption_is_exactly_the_configured_maximum(
    staff, request_exemption, settings
):
    with time_machine.travel(T0, tick=False):
        exemption = request_exemption(expires_at=T0 + dt.timedelta(days=7))
    assert exemption.expires_at == T0 + dt.timedelta(days=settings.BRAIN.exemption_max_days)


def test_an_approved_exemption_stops_at_its_expiry(staff, request_exemption, second_admin):
    with time_machine.travel(T0, tick=False):
        exemption = request_exemption(expires_at=T0 + dt.timedelta(days=2))
        exemption_approve(
            studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(second_admin)
        )
    just_before = T0 + dt.timedelta(days=2) - dt.timedelta(seconds=1)
    at_expiry = T0 + dt.timedelta(days=2)
    assert exemption_active(
        studio_id=staff.studio.pk, capability_id=NOTE, owner_id="x", at=just_before
    )
    assert (
        exemption_active(studio_id=staff.studio.pk, capability_id=NOTE, owner_id="x", at=at_expiry)
        is None
    )
    with time_machine.travel(at_expiry, tick=False):
        assert exemption_list(staff.studio.pk)[0].state == ExemptionState.EXPIRED


def test_an_expired_exemption_can_no_longer_be_approved(staff, request_exemption, second_admin):
    with time_machine.travel(T0, tick=False):
        exemption = request_exemption(expires_at=T0 + dt.timedelta(hours=1))
    with (
        time_machine.travel(T0 + dt.timedelta(hours=2), tick=False),
        pytest.raises(Denied) as denied,
    ):
        exemption_approve(
            studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(second_admin)
        )
    assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION


def test_revocation_ends_it_now_and_keeps_the_whole_history(staff, request_exemption, second_admin):
    with time_machine.travel(T0, tick=False):
        exemption = request_exemption()
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        exemption_approve(
            studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(second_admin)
        )
    with time_machine.travel(T0 + dt.timedelta(hours=5), tick=False):
        exemption_revoke(
            studio=staff.studio,
            exemption_id=exemption.pk,
            actor=Actor.staff(staff.admin),
            reason="Open studio week ended early",
        )
    events = list(
        exemption.events.order_by("occurred_at").values_list("kind", "actor__username", "reason")
    )
    assert events == [
        ("requested", "ada", "Kiln notes during the open studio week"),
        ("approved", "abe", ""),
        ("revoked", "ada", "Open studio week ended early"),
    ]
    # Active between approval and revocation, and never again: history answers "when".
    at_two = T0 + dt.timedelta(hours=2)
    assert exemption_active(studio_id=staff.studio.pk, capability_id=NOTE, owner_id="", at=at_two)
    assert (
        exemption_active(
            studio_id=staff.studio.pk,
            capability_id=NOTE,
            owner_id="",
            at=T0 + dt.timedelta(hours=6),
        )
        is None
    )
    assert [a for _, a, _ in chain(staff.studio.pk)] == [
        "exemption.requested",
        "exemption.approved",
        "exemption.revoked",
    ]


def test_revocation_needs_a_reason_and_happens_once(staff, request_exemption):
    exemption = request_exemption()
    admin = Actor.staff(staff.admin)
    with pytest.raises(Denied) as denied:
        exemption_revoke(studio=staff.studio, exemption_id=exemption.pk, actor=admin, reason="no")
    assert denied.value.code == ReasonCode.RATIONALE_REQUIRED
    exemption_revoke(
        studio=staff.studio, exemption_id=exemption.pk, actor=admin, reason="Withdrawn, not needed"
    )
    with pytest.raises(Denied) as denied:
        exemption_revoke(
            studio=staff.studio,
            exemption_id=exemption.pk,
            actor=admin,
            reason="Withdrawn twice over",
        )
    assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION


def test_another_studios_admin_cannot_touch_it(staff, request_exemption):
    exemption = request_exemption()
    with pytest.raises(Denied) as denied:
        exemption_approve(
            studio=staff.studio, exemption_id=exemption.pk, actor=Actor.staff(staff.outsider)
        )
    assert denied.value.code == ReasonCode.TENANT_MISMATCH
    with pytest.raises(Denied) as denied:
        exemption_approve(
            studio=staff.other_studio, exemption_id=exemption.pk, actor=Actor.staff(staff.outsider)
        )
    assert denied.value.code == ReasonCode.TENANT_MISMATCH


@pytest.mark.parametrize("statement", ["UPDATE {} SET reason = 'x'", "DELETE FROM {}"])
def test_exemption_history_is_append_only_in_the_database(staff, request_exemption, statement):
    request_exemption()
    from django.db import connection

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format("governance_exemptionevent"))
