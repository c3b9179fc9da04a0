"""Cockpit → Notifications: permissions, isolation, forms, the delivery log and its failures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from brain.models import Role
from brain.notify.models import (
    DeliveryStatus,
    EventKind,
    NotificationDelivery,
    NotificationPreference,
    WebhookEndpoint,
)
from brain.notify.services import notify_emit, notify_fan_out
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db


def url(name="notifications", studio="north-kiln", **kwargs):
    return reverse(f"cockpit:{name}", kwargs={"studio": studio, **kwargs})


def failed_delivery(
    staff, *, title="Kill switch engaged: global", error="hooks.example answered HTTP 500"
):
    WebhookEndpoint.objects.get_or_create(
        studio=staff.studio,
        defaults={
            "url": "https://hooks.example/T1/B2/secret-path",
            "secret_env": "HOOK_SECRET",
            "updated_at": timezone.now(),
        },
    )
    NotificationPreference.objects.update_or_create(
        studio=staff.studio,
        user=staff.admin,
        defaults={
            "channels": {k.value: ["email", "webhook"] for k in EventKind},
            "digest_interval": dt.timedelta(minutes=30),
            "updated_at": timezone.now(),
        },
    )
    event = notify_emit(
        studio_id=staff.studio.pk,
        kind=EventKind.KILL_SWITCH_ENGAGED,
        severity=40,
        title=title,
        link_path="/s/north-kiln/policy/#kill-switches",
        min_role=Role.OPERATOR,
    )
    (delivery_id,) = notify_fan_out(event_id=event.pk)
    NotificationDelivery.objects.filter(pk=delivery_id).update(
        status=DeliveryStatus.FAILED, attempts=5, last_error=error, next_attempt_at=None
    )
    return delivery_id


def test_anonymous_visitors_are_sent_to_login(client, staff):
    response = client.get(url())
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_member_of_another_studio_gets_404(staff, login):
    assert login(staff.outsider).get(url()).status_code == 404
    assert login(staff.outsider).post(url("notifications_webhook"), {}).status_code == 404


def test_wrong_methods_are_refused(staff, login):
    client = login(staff.admin)
    assert client.post(url()).status_code == 405
    assert client.get(url("notifications_preferences")).status_code == 405
    assert client.get(url("notifications_webhook")).status_code == 405


def test_the_empty_page_says_what_will_appear_and_that_email_is_off(staff, login):
    html = login(staff.viewer).get(url()).content.decode()
    assert "Nothing sent yet." in html
    assert "Email is off on this runtime" in html
    assert "No webhook yet. An admin can add one." in html
    assert "Save webhook" not in html  # viewers see the webhook, admins change it
    assert "You have not chosen yet" in html


def test_a_member_saves_their_choices_and_they_are_audited(staff, login):
    data = {
        "digest_interval": "60",
        "kill_switch_engaged__email": "on",
        "kill_switch_engaged__webhook": "on",
        "connector_down__email": "on",
    }
    response = login(staff.viewer).post(url("notifications_preferences"), data)
    assert response.status_code == 302 and response["Location"].endswith("#preferences")
    pref = NotificationPreference.objects.get(studio=staff.studio, user=staff.viewer)
    assert pref.channels == {
        "connector_down": ["email"],
        "kill_switch_engaged": ["email", "webhook"],
    }
    assert pref.digest_interval == dt.timedelta(hours=1)
    event = AuditEvent.objects.get(action="notify.preferences_changed")
    assert (event.studio_id, event.actor_id) == (staff.studio.pk, str(staff.viewer.pk))
    html = login(staff.viewer).get(url()).content.decode()
    assert (
        'name="kill_switch_engaged__webhook" id="id_kill_switch_engaged__webhook" checked' in html
    )
    assert "You have not chosen yet" not in html


def test_a_bad_digest_interval_is_a_form_error_and_nothing_is_saved(staff, login):
    response = login(staff.viewer).post(url("notifications_preferences"), {"digest_interval": "7"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert not NotificationPreference.objects.exists()


def test_only_an_admin_sets_the_webhook(staff, login):
    data = {
        "url": "https://hooks.example/T1/B2/secret-path",
        "secret_env": "HOOK_SECRET",
        "enabled": "on",
    }
    assert login(staff.approver).post(url("notifications_webhook"), data).status_code == 403
    response = login(staff.admin).post(url("notifications_webhook"), data)
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get(studio=staff.studio)
    assert (endpoint.url, endpoint.secret_env, endpoint.enabled) == (
        data["url"],
        "HOOK_SECRET",
        True,
    )
    html = login(staff.admin).get(url()).content.decode()
    assert "hooks.example" in html and "secret-path" not in html  # the path may be a token
    assert "not set" in html  # HOOK_SECRET is not in this environment


def test_a_bad_webhook_address_is_shown_on_the_field(staff, login):
    data = {"url": "ftp://hooks.example/x", "secret_env": "HOOK_SECRET", "enabled": "on"}
    response = login(staff.admin).post(url("notifications_webhook"), data)
    assert response.status_code == 422
    assert "The webhook address must be an http:// or https:// URL. (INPUT_INVALID)" in (
        response.content.decode()
    )
    assert not WebhookEndpoint.objects.exists()
    denial = AuditEvent.objects.get(action="notify.webhook_denied")
    assert denial.reason_code == "INPUT_INVALID"


def test_a_failed_delivery_is_shown_with_its_reason_and_can_be_sent_again(staff, login):
    delivery_id = failed_delivery(staff)
    html = login(staff.viewer).get(url()).content.decode()
    assert "1 notification could not be delivered." in html
    assert "failed, gave up" in html and "hooks.example answered HTTP 500" in html
    assert "Send again" not in html  # viewers cannot
    client = login(staff.operator)
    assert "Send again" in client.get(url()).content.decode()
    assert (
        login(staff.outsider)
        .post(url("notifications_retry", studio="north-kiln", delivery_id=delivery_id))
        .status_code
        == 404
    )
    response = client.post(url("notifications_retry", delivery_id=delivery_id))
    assert response.status_code == 302
    assert NotificationDelivery.objects.get(pk=delivery_id).status == DeliveryStatus.PENDING
    # Only a failed one can be sent again.
    assert client.post(url("notifications_retry", delivery_id=delivery_id)).status_code == 404


def test_another_studios_deliveries_are_not_listed(staff, login):
    failed_delivery(staff, title="Kiln 2 in north kiln stopped")
    html = login(staff.outsider).get(url(studio="south-clay")).content.decode()
    assert "Nothing sent yet." in html and "Kiln 2 in north kiln" not in html


def test_htmx_refresh_returns_only_the_delivery_log(staff, login):
    failed_delivery(staff)
    response = login(staff.viewer).get(url(), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="deliveries"')
    assert "What reaches me" not in html


def test_the_page_costs_the_same_queries_with_one_delivery_or_thirty(staff, login):
    client = login(staff.operator)
    failed_delivery(staff)
    with CaptureQueriesContext(connection) as few:
        client.get(url())
    for n in range(30):
        failed_delivery(staff, title=f"Kill switch engaged: capability {n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(url()).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
