"""Notifications, service by service, against a real SMTP server and a real webhook receiver on
loopback (tests/peers/notify_peers.py). The worker path is in test_notify_worker.py."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from brain.config import replace
from brain.models import Role
from brain.notify.models import (
    DeliveryStatus,
    EventKind,
    NotificationDelivery,
    NotificationEvent,
    Severity,
    WebhookEndpoint,
)
from brain.notify.scan import notify_scan
from brain.notify.services import (
    notify_deliver,
    notify_delivery_retry,
    notify_dispatch,
    notify_emit,
    notify_fan_out,
    notify_send_digests,
)
from connectors.models import ConnectorHealth
from governance.actors import Actor
from governance.errors import Denied
from governance.services.kill_switches import kill_switch_engage
from governance.services.notifications import (
    notification_preferences_set,
    notify_expiring_proposals,
    webhook_endpoint_set,
)
from governance.services.proposals import proposal_submit
from tests.factories import (
    ConnectorConfigFactory,
    ConnectorHealthFactory,
    ProposalFactory,
    SnapshotFactory,
)

pytestmark = pytest.mark.django_db

EVERYTHING_BY_EMAIL_AND_WEBHOOK = {kind.value: ["email", "webhook"] for kind in EventKind}


@pytest.fixture
def fast_retries(settings):
    settings.BRAIN = replace(
        settings.BRAIN,
        notify_max_attempts=3,
        notify_retry_backoff=dt.timedelta(seconds=30),
        notify_base_url="https://brain.north-kiln.example",
    )


def send_everything(event_id):
    """What the fan-out and deliver tasks do, in line."""
    return notify_deliver(delivery_ids=notify_fan_out(event_id=event_id))


def only_event():
    (event,) = NotificationEvent.objects.all()
    return event


def test_an_engaged_kill_switch_emails_operators_and_above_except_who_engaged_it(
    staff, smtp_peer, fast_retries
):
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    event = only_event()
    assert (event.kind, event.severity, event.min_role) == (
        EventKind.KILL_SWITCH_ENGAGED,
        Severity.CRITICAL,
        Role.OPERATOR,
    )

    assert send_everything(event.pk) == {"sent": 2, "retrying": 0, "failed": 0}
    mails = smtp_peer.wait_for(2)
    assert sorted(r for mail in mails for r in mail.recipients) == [
        "ada@studio.example",
        "anna@studio.example",
    ]  # not otto who engaged it, not vera (viewer), not oscar (other studio)
    mail = mails[0]
    assert mail.subject == "[CRITICAL] North Kiln Ceramics: Kill switch engaged: studio north-kiln"
    assert "By staff:otto: Kiln 2 controller acting up" in mail.text
    assert (
        "Open it in the cockpit: https://brain.north-kiln.example/s/north-kiln/policy/#kill-switches"
        in mail.text
    )
    assert "Nothing in this message approves or changes anything" in mail.text
    assert "https://brain.north-kiln.example/s/north-kiln/notifications/" in mail.text
    assert set(NotificationDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_the_event_is_written_with_the_change_and_fanned_out_only_after_it_commits(
    staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        kill_switch_engage(actor=Actor.staff(staff.operator), reason="Kiln 2 acting up today")
    assert NotificationEvent.objects.count() == 2  # a global switch: each studio hears of it
    assert len(callbacks) == 2
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Denied):
        kill_switch_engage(actor=Actor.staff(staff.operator), reason="Kiln 2 acting up again")
    assert NotificationEvent.objects.count() == 2  # the denial rolled back: nothing new
    assert callbacks == []


def test_a_new_proposal_reaches_approvers_and_admins_but_never_its_requester(
    staff, smtp_peer, fast_retries
):
    proposal = proposal_submit(
        studio=staff.studio,
        capability_id="firestore.ops_note.append",
        input={"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"},
        rationale="The kiln schedule changed this week",
        actor=Actor.staff(staff.approver),
    )
    event = only_event()
    assert event.kind == EventKind.PROPOSAL_NEEDS_APPROVAL
    assert event.link_path == f"/s/north-kiln/proposals/{proposal.pk}/"
    assert event.severity == Severity.NORMAL  # a low-risk note: it waits for the digest
    send_everything(event.pk)
    assert notify_send_digests()["sent"] == 1
    (mail,) = smtp_peer.wait_for(1)
    assert mail.recipients == ["ada@studio.example"]  # anna asked; she cannot approve her own


def test_normal_events_wait_for_one_digest_per_interval(staff, smtp_peer, fast_retries):
    now = timezone.now()
    for hours in (5, 6):
        snapshot = SnapshotFactory(
            studio=staff.studio, generated_at=now - dt.timedelta(hours=hours)
        )
        notify_emit(
            studio_id=staff.studio.pk,
            kind=EventKind.SNAPSHOT_STALE,
            severity=Severity.NORMAL,
            title=f"Snapshot {snapshot.pk} is stale",
            link_path="/s/north-kiln/state/",
            min_role=Role.ADMIN,
            dedupe_key=f"snapshot:{snapshot.pk}:stale",
        )
    for event in NotificationEvent.objects.all():
        assert notify_fan_out(event_id=event.pk, now=now) == []  # nothing goes out at once
    assert notify_send_digests(now=now) == {"sent": 2, "retrying": 0, "failed": 0}
    (mail,) = smtp_peer.wait_for(1)
    assert mail.recipients == ["ada@studio.example"]
    assert mail.subject == "North Kiln Ceramics: 2 notifications"
    assert mail.text.count("is stale") == 2

    later = now + dt.timedelta(minutes=1)
    third = notify_emit(
        studio_id=staff.studio.pk,
        kind=EventKind.SNAPSHOT_STALE,
        severity=Severity.NORMAL,
        title="Third stale snapshot",
        link_path="/s/north-kiln/state/",
        min_role=Role.ADMIN,
    )
    notify_fan_out(event_id=third.pk, now=later)
    assert notify_send_digests(now=later)["sent"] == 0  # the 30-minute slot is not open yet
    assert notify_send_digests(now=now + dt.timedelta(minutes=30))["sent"] == 1
    assert len(smtp_peer.wait_for(2)) == 2


def test_a_member_who_turned_an_event_off_does_not_get_it(staff, smtp_peer, fast_retries):
    notification_preferences_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        channels={"kill_switch_engaged": []},
        digest_interval=dt.timedelta(minutes=30),
    )
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    send_everything(only_event().pk)
    (mail,) = smtp_peer.wait_for(1)
    assert mail.recipients == ["anna@studio.example"]


def _webhook(staff, url, secret_env="NOTIFY_TEST_WEBHOOK_SECRET"):  # noqa: S107 (a variable name)
    webhook_endpoint_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        url=url,
        secret_env=secret_env,
        enabled=True,
    )
    notification_preferences_set(
        actor=Actor.staff(staff.admin),
        studio=staff.studio,
        channels=EVERYTHING_BY_EMAIL_AND_WEBHOOK,
        digest_interval=dt.timedelta(minutes=30),
    )


def test_the_webhook_gets_signed_slack_json_linking_to_the_cockpit(
    staff, smtp_peer, webhook_peer, fast_retries
):
    _webhook(staff, webhook_peer.url)
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    counts = send_everything(only_event().pk)
    assert counts == {"sent": 3, "retrying": 0, "failed": 0}  # two emails, one webhook post
    (request,) = webhook_peer.wait_for(1)
    assert request.signature_valid
    payload = request.json()
    assert payload["text"] == (
        "North Kiln Ceramics: Kill switch engaged: studio north-kiln "
        "https://brain.north-kiln.example/s/north-kiln/policy/#kill-switches"
    )
    assert [block["type"] for block in payload["blocks"]] == ["section", "context"]
    context = payload["blocks"][1]["elements"][0]["text"]
    assert (
        "<https://brain.north-kiln.example/s/north-kiln/policy/#kill-switches|Open in the cockpit>"
        in context
    )
    assert webhook_peer.secret not in request.body.decode()


def test_a_failing_receiver_is_retried_with_doubling_waits_then_shown_as_failed(
    staff, webhook_peer, fast_retries
):
    _webhook(staff, webhook_peer.url)
    webhook_peer.status = 500
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    (delivery_id,) = notify_fan_out(event_id=only_event().pk)  # email is off: only the webhook
    now = timezone.now()
    waits = []
    for _ in range(3):
        notify_deliver(delivery_ids=[delivery_id], now=now)
        row = NotificationDelivery.objects.get(pk=delivery_id)
        if row.next_attempt_at:
            waits.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert waits == [30, 60]
    assert (row.status, row.attempts, row.last_error) == (
        DeliveryStatus.FAILED,
        3,
        f"{urlsplit(webhook_peer.url).netloc} answered HTTP 500",
    )
    assert len(webhook_peer.wait_for(3)) == 3
    assert all(r.signature_valid for r in webhook_peer.requests)

    # "Send again" starts it over, and a healed receiver takes it.
    webhook_peer.status = 200
    assert notify_delivery_retry(studio_id=staff.other_studio.pk, delivery_id=delivery_id) is None
    notify_delivery_retry(studio_id=staff.studio.pk, delivery_id=delivery_id)
    assert notify_deliver(delivery_ids=[delivery_id])["sent"] == 1


def test_a_receiver_that_refuses_the_request_is_not_retried(staff, webhook_peer, fast_retries):
    _webhook(staff, webhook_peer.url)
    webhook_peer.status = 410
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    (delivery_id,) = notify_fan_out(event_id=only_event().pk)
    assert notify_deliver(delivery_ids=[delivery_id])["failed"] == 1
    assert len(webhook_peer.requests) == 1


def test_an_unset_secret_fails_at_once_naming_the_variable_not_the_value(
    staff, webhook_peer, fast_retries
):
    _webhook(staff, webhook_peer.url, secret_env="NOTIFY_SECRET_NOBODY_SET")
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    (delivery_id,) = notify_fan_out(event_id=only_event().pk)
    notify_deliver(delivery_ids=[delivery_id])
    row = NotificationDelivery.objects.get(pk=delivery_id)
    assert row.status == DeliveryStatus.FAILED
    assert "NOTIFY_SECRET_NOBODY_SET" in row.last_error
    assert webhook_peer.requests == []


def test_an_unreachable_mail_server_is_retried_then_failed(staff, smtp_peer, fast_retries):
    smtp_peer.refuse_with = "451 4.3.0 try again later"
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    ids = notify_fan_out(event_id=only_event().pk)
    assert notify_deliver(delivery_ids=ids) == {"sent": 0, "retrying": 2, "failed": 0}
    assert set(NotificationDelivery.objects.values_list("last_error", flat=True)) == {
        "the mail server answered 451"
    }


def test_the_scan_finds_a_connector_down_for_15_minutes_once_per_outage(staff):
    now = timezone.now()
    hub = ConnectorConfigFactory(studio=staff.studio, name="hub1")
    vacuum = ConnectorConfigFactory(studio=staff.studio, name="vacuums", kind="roborock")
    for config, samples in (
        (hub, [("healthy", 40), ("down", 20), ("down", 10), ("down", 0)]),
        (vacuum, [("healthy", 40), ("down", 10), ("down", 0)]),  # down for 10 minutes only
    ):
        for availability, minutes_ago in samples:
            ConnectorHealthFactory(
                config=config,
                availability=availability,
                checked_at=now - dt.timedelta(minutes=minutes_ago),
                error_message="timed out" if availability == "down" else "",
            )
    assert notify_scan(now=now)["connector_down"] == 1
    assert notify_scan(now=now + dt.timedelta(minutes=5))["connector_down"] == 1  # vacuums now
    assert sorted(NotificationEvent.objects.values_list("title", flat=True)) == [
        "Connector hub1 has been down for 20 minutes",
        "Connector vacuums has been down for 15 minutes",
    ]
    assert notify_scan(now=now + dt.timedelta(minutes=10))["connector_down"] == 0
    # Back up, then down again: a new outage is a new event.
    ConnectorHealthFactory(config=hub, availability="healthy", checked_at=now)
    ConnectorHealthFactory(
        config=hub, availability="down", checked_at=now + dt.timedelta(minutes=1)
    )
    assert notify_scan(now=now + dt.timedelta(minutes=17))["connector_down"] == 1
    assert ConnectorHealth.objects.count() == 9


def test_the_scan_finds_a_stale_snapshot_once(staff, settings):
    now = timezone.now()
    SnapshotFactory(studio=staff.studio, generated_at=now - dt.timedelta(hours=5))
    SnapshotFactory(studio=staff.other_studio, generated_at=now - dt.timedelta(hours=1))
    assert notify_scan(now=now)["snapshot_stale"] == 1
    assert notify_scan(now=now)["snapshot_stale"] == 0
    event = only_event()
    assert (event.studio, event.title) == (staff.studio, "The studio snapshot is 5.0 hours old")


def test_proposals_expiring_within_two_hours_are_announced_once(staff):
    now = timezone.now()
    soon = ProposalFactory(studio=staff.studio, expires_at=now + dt.timedelta(minutes=90))
    ProposalFactory(studio=staff.studio, expires_at=now + dt.timedelta(hours=3))
    assert notify_expiring_proposals(now=now) == 1
    assert notify_expiring_proposals(now=now + dt.timedelta(minutes=5)) == 0
    event = only_event()
    assert event.title.startswith(f"Proposal #{soon.pk} expires in 90 minutes")
    assert (event.kind, event.min_role) == (EventKind.PROPOSAL_EXPIRING, Role.APPROVER)


def test_the_dispatcher_picks_up_what_a_lost_task_left(staff, smtp_peer, fast_retries):
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    event = only_event()  # its fan-out task never ran
    later = timezone.now() + dt.timedelta(minutes=3)
    assert notify_dispatch(now=later)["fanned_out"] == 1
    assert NotificationDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2
    # ...and the deliveries' own task is lost too: the next minute queues them again.
    summary = notify_dispatch(now=later + dt.timedelta(minutes=3))
    assert summary["requeued"] == 2 and event.deliveries.count() == 2


def test_a_webhook_that_was_switched_off_gets_nothing(staff, webhook_peer, fast_retries):
    _webhook(staff, webhook_peer.url)
    WebhookEndpoint.objects.update(enabled=False)
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Kiln 2 controller acting up", studio=staff.studio
    )
    assert notify_fan_out(event_id=only_event().pk) == []
