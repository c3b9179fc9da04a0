"""Governance's notification services: who may change what, and the exact audit events."""

from __future__ import annotations

import datetime as dt

import pytest

from brain.notify.models import NotificationEvent, NotificationPreference, WebhookEndpoint
from governance.actors import Actor
from governance.errors import Denied
from governance.services.kill_switches import (
    kill_switch_engage,
    kill_switch_release_confirm,
    kill_switch_release_request,
)
from governance.services.notifications import (
    notification_preferences_set,
    webhook_endpoint_set,
)
from tests.factories import MembershipFactory, UserFactory
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db


def test_a_member_sets_their_own_preferences_audited_in_the_studio_chain(staff):
    before = chain(staff.studio.pk)
    pref = notification_preferences_set(
        actor=Actor.staff(staff.viewer),
        studio=staff.studio,
        channels={"snapshot_stale": ["email", "email"], "connector_down": []},
        digest_interval=dt.timedelta(hours=4),
    )
    assert pref.channels == {"snapshot_stale": ["email"]}
    new = chain(staff.studio.pk)[len(before) :]
    assert [(action, code) for _, action, code in new] == [("notify.preferences_changed", "")]


@pytest.mark.parametrize(
    ("channels", "interval"),
    [({"lunch_ready": ["email"]}, 30), ({"snapshot_stale": ["pigeon"]}, 30), ({}, 2)],
)
def test_bad_preferences_are_denied_and_the_denial_audited(staff, channels, interval):
    with pytest.raises(Denied) as denied:
        notification_preferences_set(
            actor=Actor.staff(staff.viewer),
            studio=staff.studio,
            channels=channels,
            digest_interval=dt.timedelta(minutes=interval),
        )
    assert denied.value.code == "INPUT_INVALID"
    assert not NotificationPreference.objects.exists()
    assert chain(staff.studio.pk)[-1][1:] == ("notify.preferences_denied", "INPUT_INVALID")


def test_an_outsider_cannot_set_preferences_in_another_studio(staff):
    with pytest.raises(Denied) as denied:
        notification_preferences_set(
            actor=Actor.staff(staff.outsider),
            studio=staff.studio,
            channels={},
            digest_interval=dt.timedelta(minutes=30),
        )
    assert denied.value.code == "TENANT_MISMATCH"


def test_the_webhook_is_an_admins_and_its_audit_names_the_host_and_variable_only(staff):
    with pytest.raises(Denied) as denied:
        webhook_endpoint_set(
            actor=Actor.staff(staff.approver),
            studio=staff.studio,
            url="https://hooks.example/T1/B2/token-in-path",
            secret_env="HOOK_SECRET",
            enabled=True,
        )
    assert denied.value.code == "ROLE_REQUIRED"
    assert chain(staff.studio.pk)[-1][1:] == ("notify.webhook_denied", "ROLE_REQUIRED")

    webhook_endpoint_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        url="https://hooks.example/T1/B2/token-in-path",
        secret_env="HOOK_SECRET",
        enabled=True,
    )
    # An empty address keeps the current one (the page never shows it back).
    endpoint = webhook_endpoint_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        url="",
        secret_env="HOOK_SECRET_2",
        enabled=False,
    )
    assert (endpoint.url, endpoint.secret_env, endpoint.enabled) == (
        "https://hooks.example/T1/B2/token-in-path",
        "HOOK_SECRET_2",
        False,
    )
    from governance.models import AuditEvent

    changes = list(AuditEvent.objects.filter(action="notify.webhook_changed").order_by("sequence"))
    assert [c.metadata["after"] for c in changes] == [
        {"host": "hooks.example", "secret_env": "HOOK_SECRET", "enabled": True},
        {"host": "hooks.example", "secret_env": "HOOK_SECRET_2", "enabled": False},
    ]
    assert all("token-in-path" not in str(c.metadata_json) for c in changes)
    assert WebhookEndpoint.objects.count() == 1


def test_a_new_webhook_needs_an_address_and_a_variable_name(staff):
    for url, name in (("", "HOOK_SECRET"), ("https://hooks.example/x", "not a name")):
        with pytest.raises(Denied):
            webhook_endpoint_set(
                actor=Actor.staff(staff.admin),
                studio=staff.studio,
                url=url,
                secret_env=name,
                enabled=True,
            )
    assert not WebhookEndpoint.objects.exists()


def test_a_kill_switch_is_announced_when_engaged_and_when_released_not_when_asked(staff):
    second_admin = MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=40
    ).user
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    kill_switch_release_request(
        actor=Actor.staff(staff.admin), reason="Controller replaced", studio=staff.studio
    )
    assert NotificationEvent.objects.count() == 1
    kill_switch_release_confirm(
        actor=Actor.staff(second_admin), reason="Checked the new controller", studio=staff.studio
    )
    assert list(NotificationEvent.objects.order_by("pk").values_list("kind", "exclude_user")) == [
        ("kill_switch_engaged", staff.operator.pk),
        ("kill_switch_released", second_admin.pk),
    ]
