"""The Django admin for studio admins: the exemptions of their own studios and nothing else,
with no superuser or ``is_staff`` step; superusers keep the whole admin."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from brain.models import Role
from governance.actors import Actor
from governance.models import Exemption, ExemptionEvent
from governance.services.exemptions import exemption_request
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NOTE = "firestore.ops_note.append"
CHANGELIST = "admin:governance_exemption_changelist"


@pytest.fixture
def exemptions(staff):
    """One pending exemption in each studio, each requested by that studio's admin."""

    def request(studio, by):
        return exemption_request(
            studio=studio,
            capability_id=NOTE,
            justification="Open studio week: kiln notes",
            expires_at=timezone.now() + dt.timedelta(days=2),
            actor=Actor.staff(by),
        )

    return request(staff.studio, staff.admin), request(staff.other_studio, staff.outsider)


def expires_fields(days: int = 3) -> dict[str, str]:
    expires = (timezone.now() + dt.timedelta(days=days)).astimezone(dt.UTC)
    return {
        "expires_at_0": expires.strftime("%Y-%m-%d"),
        "expires_at_1": expires.strftime("%H:%M:%S"),
    }


def test_a_studio_admin_reaches_the_admin_without_being_staff_or_superuser(staff, login):
    assert not staff.admin.is_staff and not staff.admin.is_superuser

    response = login(staff.admin).get(reverse("admin:index"))

    assert response.status_code == 200
    text = response.content.decode()
    assert reverse(CHANGELIST) in text
    # Only what the product puts in the admin for them: no users, no proposals, no audit.
    for other in (
        "admin:auth_user_changelist",
        "admin:governance_proposal_changelist",
        "admin:governance_auditevent_changelist",
        "admin:connectors_connectorconfig_changelist",
    ):
        assert reverse(other) not in text
    assert login(staff.admin).get(reverse("admin:auth_user_changelist")).status_code == 403


def test_a_studio_admin_sees_only_their_studios_exemptions(staff, login, exemptions):
    own, _other = exemptions

    response = login(staff.admin).get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [own]
    # The studio filter offers their studio only: another studio's name never shows.
    text = response.content.decode()
    assert staff.studio.name in text
    assert staff.other_studio.name not in text


def test_another_studios_exemption_cannot_be_opened_or_approved(staff, login, exemptions):
    _own, other = exemptions
    client = login(staff.admin)
    change = reverse("admin:governance_exemption_change", args=[other.pk])

    opened = client.get(change)
    approved = client.post(change, {"decision": "approve", "reason": "", "password": PASSWORD})

    # The admin answers a row outside the queryset as a missing one: back to the index.
    assert opened.status_code == 302 and opened["Location"] == reverse("admin:index")
    assert approved.status_code == 302 and approved["Location"] == reverse("admin:index")
    assert list(ExemptionEvent.objects.filter(exemption=other).values_list("kind", flat=True)) == [
        "requested"
    ]


def test_a_studio_admin_requests_exemptions_for_their_studio_only(staff, login):
    client = login(staff.admin)
    add = reverse("admin:governance_exemption_add")
    studio_field = client.get(add).context["adminform"].form.fields["studio"]
    assert list(studio_field.queryset) == [staff.studio]
    fields = {"capability": NOTE, "owner_id": "", "justification": "Kiln notes all week"}

    elsewhere = client.post(add, {"studio": staff.other_studio.pk, **fields, **expires_fields()})
    here = client.post(add, {"studio": staff.studio.pk, **fields, **expires_fields()})

    assert elsewhere.status_code == 200 and "Select a valid choice" in elsewhere.content.decode()
    assert here.status_code == 302, here.content.decode()[:2000]
    assert list(Exemption.objects.values_list("studio__slug", flat=True)) == ["north-kiln"]


def test_a_second_studio_admin_approves_in_the_admin(staff, login, exemptions):
    own, _other = exemptions
    second = MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user

    response = login(second).post(
        reverse("admin:governance_exemption_change", args=[own.pk]),
        {"decision": "approve", "reason": "", "password": ""},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    kinds = (
        ExemptionEvent.objects.filter(exemption=own).order_by("pk").values_list("kind", flat=True)
    )
    assert list(kinds) == ["requested", "approved"]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_members_below_approver_cannot_reach_the_admin(staff, login, role):
    # Approvers reach it for the pending-proposal queue only (test_admin_proposals.py).
    client = login(getattr(staff, role))

    for name in ("admin:index", CHANGELIST):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_a_user_with_no_membership_cannot_reach_the_admin(db):
    user = UserFactory(username="nobody")
    client = Client()
    client.force_login(user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_a_superuser_still_sees_every_studio_and_the_whole_admin(staff, login, exemptions):
    root = UserFactory(username="root", email="root@studio.example", superuser=True)
    client = login(root)

    response = client.get(reverse(CHANGELIST))

    assert set(response.context["cl"].result_list) == set(exemptions)
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
    assert client.get(reverse("admin:governance_proposal_changelist")).status_code == 200


def test_the_exemption_add_form_offers_no_decision(staff, login):
    """Bug 7: the add form offered "Decision = Approve" to the requester and ignored it.
    Decisions go through the approval services on the change page, by another admin."""
    client = login(staff.admin)
    add = reverse("admin:governance_exemption_add")

    form = client.get(add).context["adminform"].form

    assert "decision" not in form.fields and "password" not in form.fields
    fields = {"capability": NOTE, "owner_id": "", "justification": "Kiln notes all week"}
    response = client.post(
        add, {"studio": staff.studio.pk, **fields, **expires_fields(), "decision": "approve"}
    )
    assert response.status_code == 302
    kinds = ExemptionEvent.objects.values_list("kind", flat=True)
    assert list(kinds) == ["requested"]


def test_the_exemption_changelist_searches_owner_and_justification(staff, login):
    """Bug 7: the changelist had no search."""
    for justification, owner in (
        ("Open studio week", "owner-ben"),
        ("Month-end sprint", "owner-kim"),
    ):
        exemption_request(
            studio=staff.studio,
            capability_id=NOTE,
            owner_id=owner,
            justification=justification,
            expires_at=timezone.now() + dt.timedelta(days=2),
            actor=Actor.staff(staff.admin),
        )
    client = login(staff.admin)

    by_text = client.get(reverse(CHANGELIST), {"q": "month-end"}).context["cl"].result_list
    by_owner = client.get(reverse(CHANGELIST), {"q": "kim"}).context["cl"].result_list

    assert [e.justification for e in by_text] == ["Month-end sprint"]
    assert [e.owner_id for e in by_owner] == ["owner-kim"]
