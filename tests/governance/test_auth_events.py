import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent, Capability, Execution, KillSwitch, Proposal
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def global_chain():
    return list(
        AuditEvent.objects.filter(studio=None)
        .order_by("sequence")
        .values_list("action", "actor_type", "actor_id")
    )


def test_logins_logouts_and_failed_logins_are_audited_in_the_global_chain(staff):
    client = Client()
    client.post(reverse("login"), {"username": "anna", "password": "wrong password"})
    client.post(reverse("login"), {"username": "anna", "password": PASSWORD})
    client.post(reverse("logout"))
    assert global_chain() == [
        ("auth.login_failed", "system", "auth"),
        ("auth.login", "staff", str(staff.approver.pk)),
        ("auth.logout", "staff", str(staff.approver.pk)),
    ]
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.metadata["username"] == "anna"
    assert "wrong password" not in str(failed.metadata)
    assert not AuditEvent.objects.filter(studio=staff.studio).exists()


def test_admin_changes_are_audited(staff):
    root = UserFactory(username="root", email="root@studio.example", superuser=True)
    client = Client()
    client.force_login(root)
    url = reverse("admin:auth_user_change", args=[staff.viewer.pk])
    response = client.post(
        url,
        {
            "username": "vera",
            "first_name": "Vera",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:500]
    event = AuditEvent.objects.filter(action="admin.changed").get()
    assert (event.studio_id, event.target_type, event.target_id) == (
        None,
        "auth.user",
        str(staff.viewer.pk),
    )
    assert event.actor_id == str(root.pk)


def test_nobody_can_change_or_delete_governance_rows_in_the_admin(rf):
    root = UserFactory(username="root", email="root@studio.example", superuser=True)
    request = rf.get("/")
    request.user = root
    for model in (AuditEvent, Proposal, Capability, Execution, KillSwitch):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_delete_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_add_permission(request)
        assert model_admin.get_actions(request) == {}
