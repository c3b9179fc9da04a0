"""Notifications end to end: a kill switch engaged in the cockpit's service, fanned out and
delivered by a real Celery worker to a real SMTP server and a real webhook receiver; a failing
receiver retried with backoff and then shown as failed on the Notifications page."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.urls import reverse

from brain.config import replace
from brain.notify.models import DeliveryStatus, EventKind, NotificationDelivery
from governance.actors import Actor
from governance.services.kill_switches import kill_switch_engage
from governance.services.notifications import (
    notification_preferences_set,
    webhook_endpoint_set,
)
from studio_brain.celery import app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def purged_queues():
    with app.connection_for_write() as connection:
        for queue in ("reads", "execute", "default"):  # tasks other tests queued without a worker
            connection.default_channel.queue_purge(queue)


@pytest.fixture
def webhook_for_admin(staff, webhook_peer, settings):
    settings.BRAIN = replace(
        settings.BRAIN,
        notify_max_attempts=3,
        notify_retry_backoff=dt.timedelta(seconds=1),
        notify_base_url="https://brain.north-kiln.example",
    )
    webhook_endpoint_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        url=webhook_peer.url,
        secret_env="NOTIFY_TEST_WEBHOOK_SECRET",
        enabled=True,
    )
    notification_preferences_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        channels={kind.value: ["email", "webhook"] for kind in EventKind},
        digest_interval=dt.timedelta(minutes=30),
    )


def wait_for_status(status, count):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if NotificationDelivery.objects.filter(status=status).count() >= count:
            return
        time.sleep(0.1)
    rows = list(NotificationDelivery.objects.values_list("channel", "status", "attempts"))
    raise AssertionError(f"no {count} deliveries {status} in 30 s: {rows}")


def engage(staff):
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )


def test_a_worker_emails_and_posts_an_engaged_kill_switch(
    staff, purged_queues, celery_worker, smtp_peer, webhook_peer, webhook_for_admin
):
    engage(staff)
    mails = smtp_peer.wait_for(2)
    (post,) = webhook_peer.wait_for(1)
    wait_for_status(DeliveryStatus.SENT, 3)
    assert sorted(r for mail in mails for r in mail.recipients) == [
        "ada@studio.example",
        "anna@studio.example",
    ]
    assert post.signature_valid
    assert "Kill switch engaged: studio north-kiln" in post.json()["text"]


def test_a_failing_receiver_is_retried_with_backoff_then_failed_on_the_page(
    staff, purged_queues, celery_worker, json_logs, webhook_peer, webhook_for_admin, login
):
    webhook_peer.status = 503
    engage(staff)
    wait_for_status(DeliveryStatus.FAILED, 1)
    assert len(webhook_peer.wait_for(3)) == 3
    assert all(request.signature_valid for request in webhook_peer.requests)
    retries = [line["retry_in_s"] for line in json_logs.events("notify.delivery.retrying")]
    assert retries == [1.0, 2.0]  # BRAIN_NOTIFY_RETRY_BACKOFF, then twice that
    (failed,) = json_logs.events("notify.delivery.failed")
    assert failed["attempts"] == 3
    assert webhook_peer.secret not in json_logs.text()
    assert "/hooks/studio" not in json_logs.text()  # the address's path may be a token

    html = (
        login(staff.admin)
        .get(reverse("cockpit:notifications", kwargs={"studio": "north-kiln"}))
        .content.decode()
    )
    assert "1 notification could not be delivered." in html
    assert "answered HTTP 503" in html and "failed, gave up" in html
