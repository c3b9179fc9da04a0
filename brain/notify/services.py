"""Notification delivery: emit into the outbox, fan out to recipients, send, retry, digest.

The flow (docs/notifications.md):

1. ``notify_emit`` writes a ``NotificationEvent`` in the caller's transaction and queues
   ``notify_fan_out`` with ``transaction.on_commit``: an event exists exactly when the thing
   it reports committed.
2. ``notify_fan_out`` picks the recipients (members of the studio with the event's role or
   above, minus the person who caused it) and writes one ``NotificationDelivery`` per member
   and channel they chose, plus one for the studio's webhook when a recipient wants it there.
   High and critical events are emailed at once; normal ones wait for the member's digest.
3. ``notify_deliver`` claims due deliveries, sends them (all emails of a batch over one SMTP
   connection) and records the outcome. A failure is retried with exponential backoff
   (``BRAIN_NOTIFY_RETRY_BACKOFF`` x 2^n) up to ``BRAIN_NOTIFY_MAX_ATTEMPTS``, then shown
   as failed on the Notifications page.
4. ``notify_dispatch`` (Celery beat, every minute) sends due digests and re-queues whatever a
   lost task message or a dead worker left behind, so nothing is lost silently.

Only ``connectors.webhook`` talks HTTP; email goes through Django's mail framework.
"""

from __future__ import annotations

import contextlib
import smtplib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from brain.models import Membership, Studio
from brain.notify.messages import (
    EventText,
    absolute_url,
    digest_body,
    digest_subject,
    email_body,
    email_subject,
    slack_body,
)
from brain.notify.models import (
    Channel,
    DeliveryStatus,
    EventKind,
    NotificationDelivery,
    NotificationEvent,
    NotificationPreference,
    Severity,
    WebhookEndpoint,
    default_channels,
)
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.secrets import resolve_secrets
from connectors.webhook.client import WebhookError, webhook_post

log = structlog.stdlib.get_logger("brain.notify")

# A claimed delivery is someone's for this long; after it, the dispatcher sends it again.
CLAIM_LEASE = timedelta(minutes=5)
# How long an unfanned event or an unsent due delivery may wait for its task before the
# dispatcher assumes the task message was lost and queues it again.
LOST_AFTER = timedelta(minutes=2)
UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.DIGEST, DeliveryStatus.RETRYING)


def email_enabled() -> bool:
    return bool(settings.BRAIN.email_host)


def notify_emit(
    *,
    studio_id: int,
    kind: EventKind,
    severity: Severity,
    title: str,
    link_path: str,
    min_role: int,
    body: str = "",
    exclude_user_id: int | None = None,
    dedupe_key: str = "",
    occurred_at: datetime | None = None,
) -> NotificationEvent | None:
    """Write an event into the outbox in the current transaction; fan it out after commit.

    With a ``dedupe_key`` the same event is written once per studio (the periodic scan
    calls this every few minutes); the repeat returns None.
    """
    if (
        dedupe_key
        and NotificationEvent.objects.filter(studio_id=studio_id, dedupe_key=dedupe_key).exists()
    ):
        return None
    try:
        with transaction.atomic():  # a savepoint: a racing duplicate must not spoil the caller
            event = NotificationEvent.objects.create(
                studio_id=studio_id,
                kind=kind,
                severity=severity,
                title=title[:200],
                body=body,
                link_path=link_path,
                min_role=min_role,
                exclude_user_id=exclude_user_id,
                dedupe_key=dedupe_key,
                occurred_at=occurred_at or timezone.now(),
            )
    except IntegrityError:
        return None
    event_id = event.pk
    transaction.on_commit(lambda: _queue_fan_out(event_id))
    return event


def _queue_fan_out(event_id: int) -> None:
    from brain.tasks_notify import notify_fan_out_task

    try:
        notify_fan_out_task.delay(event_id)
    except Exception as error:  # broker down: the dispatcher fans it out later
        log.warning("notify.fan_out.not_queued", event_id=event_id, error=type(error).__name__)


def queue_deliveries(delivery_ids: list[int], *, countdown: float | None = None) -> None:
    """Queue one task that sends these deliveries (a lost message is re-queued by the sweep)."""
    if not delivery_ids:
        return
    from brain.tasks_notify import notify_deliver_task

    try:
        if countdown is None:
            notify_deliver_task.apply_async(args=(delivery_ids,))
        else:
            notify_deliver_task.apply_async(args=(delivery_ids,), countdown=countdown)
    except Exception as error:
        log.warning(
            "notify.deliver.not_queued", deliveries=len(delivery_ids), error=type(error).__name__
        )


def _preferences(studio_id: int, user_ids: Iterable[int]) -> dict[int, NotificationPreference]:
    return {
        pref.user_id: pref
        for pref in NotificationPreference.objects.filter(studio_id=studio_id, user_id__in=user_ids)
    }


def preference_or_default(
    pref: NotificationPreference | None, *, studio_id: int, user_id: int
) -> NotificationPreference:
    if pref is not None:
        return pref
    return NotificationPreference(
        studio_id=studio_id,
        user_id=user_id,
        channels=default_channels(),
        digest_interval=settings.BRAIN.notify_digest_interval,
    )


def notify_fan_out(*, event_id: int, now: datetime | None = None) -> list[int]:
    """Write the event's deliveries (once); the ids of those to send right away are returned
    and queued after commit."""
    now = now or timezone.now()
    with transaction.atomic():
        event = (
            NotificationEvent.objects.select_for_update()
            .filter(pk=event_id, fanned_out_at__isnull=True)
            .first()
        )
        if event is None:
            return []
        members = Membership.objects.filter(
            studio_id=event.studio_id, role__gte=event.min_role, user__is_active=True
        ).select_related("user")
        if event.exclude_user_id is not None:
            members = members.exclude(user_id=event.exclude_user_id)
        users = [m.user for m in members]
        prefs = _preferences(event.studio_id, [u.pk for u in users])
        wanted = {
            u.pk: preference_or_default(prefs.get(u.pk), studio_id=event.studio_id, user_id=u.pk)
            for u in users
        }
        digest = event.severity < Severity.HIGH
        last_digest: dict[int, datetime] = {}
        if digest:
            last_digest = dict(
                NotificationDelivery.objects.filter(
                    studio_id=event.studio_id,
                    channel=Channel.EMAIL,
                    digest=True,
                    status=DeliveryStatus.SENT,
                    user_id__in=list(wanted),
                )
                .values("user_id")
                .annotate(last=Max("sent_at"))
                .values_list("user_id", "last")
            )
        rows: list[NotificationDelivery] = []
        if email_enabled():
            for user in users:
                pref = wanted[user.pk]
                if not user.email or not pref.wants(event.kind, Channel.EMAIL):
                    continue
                due = now
                if digest and user.pk in last_digest:
                    # At most one digest per interval: the next one waits for its slot.
                    due = max(now, last_digest[user.pk] + pref.digest_interval)
                rows.append(
                    NotificationDelivery(
                        event=event,
                        studio_id=event.studio_id,
                        channel=Channel.EMAIL,
                        user=user,
                        digest=digest,
                        status=DeliveryStatus.DIGEST if digest else DeliveryStatus.PENDING,
                        next_attempt_at=due,
                        created_at=now,
                    )
                )
        endpoint = WebhookEndpoint.objects.filter(studio_id=event.studio_id, enabled=True).first()
        if endpoint is not None and any(
            p.wants(event.kind, Channel.WEBHOOK) for p in wanted.values()
        ):
            rows.append(
                NotificationDelivery(
                    event=event,
                    studio_id=event.studio_id,
                    channel=Channel.WEBHOOK,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        created = NotificationDelivery.objects.bulk_create(rows)
        event.fanned_out_at = now
        event.save(update_fields=["fanned_out_at"])
        immediate = [row.pk for row in created if not row.digest]
        transaction.on_commit(lambda: queue_deliveries(immediate))
    log.info(
        "notify.fanned_out",
        event_id=event_id,
        kind=event.kind,
        deliveries=len(created),
        immediate=len(immediate),
    )
    return immediate


# -- sending ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    error: str = ""
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


def _event_text(event: NotificationEvent, studio: Studio) -> EventText:
    return EventText(
        studio_name=studio.name,
        title=event.title,
        body=event.body,
        url=absolute_url(settings.BRAIN.notify_base_url, event.link_path),
        severity=Severity(event.severity).label,
        occurred_at=event.occurred_at,
    )


def preferences_url(studio: Studio) -> str:
    path = reverse("cockpit:notifications", kwargs={"studio": studio.slug})
    return absolute_url(settings.BRAIN.notify_base_url, path)


def _claim(rows_query: Any, now: datetime) -> list[NotificationDelivery]:
    """Lock the due rows nobody else is sending, lease them, and return them."""
    with transaction.atomic():
        rows = list(
            rows_query.select_for_update(skip_locked=True, of=("self",)).select_related(
                "event", "studio", "user"
            )
        )
        if rows:
            NotificationDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                next_attempt_at=now + CLAIM_LEASE
            )
    return rows


def _smtp_error(error: Exception) -> Outcome:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return Outcome("the mail server refused the address", permanent=True)
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        # 5xx is a permanent refusal of this message; 4xx says "try again later".
        return Outcome(f"the mail server answered {code}", permanent=500 <= code < 600)
    return Outcome(f"could not reach the mail server ({type(error).__name__})")


def _send_emails(messages: list[tuple[list[int], EmailMessage]]) -> dict[int, Outcome]:
    """Send each message over one SMTP connection; the outcome per delivery id."""
    outcomes: dict[int, Outcome] = {}
    connection = mailers.default
    try:
        connection.open()
    except Exception as error:
        failed = _smtp_error(error)
        return {pk: failed for ids, _ in messages for pk in ids}
    try:
        for ids, message in messages:
            try:
                connection.send_messages([message])
                outcome = Outcome()
            except Exception as error:
                outcome = _smtp_error(error)
            for pk in ids:
                outcomes[pk] = outcome
    finally:
        # A server that drops the line at QUIT: the mail went out already.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()
    return outcomes


def _send_webhook(row: NotificationDelivery) -> Outcome:
    endpoint = WebhookEndpoint.objects.filter(studio_id=row.studio_id).first()
    if endpoint is None or not endpoint.enabled:
        return Outcome("the studio's webhook was removed or switched off", permanent=True)
    try:
        secret = resolve_secrets({"secret": endpoint.secret_env})["secret"]
    except ConfigurationError:
        return Outcome(
            f"environment variable {endpoint.secret_env} (or {endpoint.secret_env}_FILE) "
            "is not set",
            permanent=True,
        )
    try:
        webhook_post(
            url=endpoint.url,
            body=slack_body(_event_text(row.event, row.studio)),
            secret=secret,
            timeout=settings.BRAIN.notify_webhook_timeout.total_seconds(),
        )
    except WebhookError as error:
        return Outcome(str(error)[:300], permanent=error.permanent)
    return Outcome()


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: base, 2 x base, 4 x base, ..."""
    base: timedelta = settings.BRAIN.notify_retry_backoff
    return base * (2 ** max(attempts - 1, 0))


def _record(
    rows: list[NotificationDelivery], outcomes: dict[int, Outcome], now: datetime
) -> dict[str, int]:
    limit = settings.BRAIN.notify_max_attempts
    retries: dict[float, list[int]] = defaultdict(list)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    for row in rows:
        outcome = outcomes.get(row.pk, Outcome("not sent"))
        row.attempts += 1
        if outcome.ok:
            row.status = DeliveryStatus.SENT
            row.sent_at = now
            row.next_attempt_at = None
            row.last_error = ""
            counts["sent"] += 1
            continue
        row.last_error = outcome.error[:300]
        if outcome.permanent or row.attempts >= limit:
            row.status = DeliveryStatus.FAILED
            row.next_attempt_at = None
            counts["failed"] += 1
            log.warning(
                "notify.delivery.failed",
                delivery=row.pk,
                channel=row.channel,
                attempts=row.attempts,
                error=row.last_error,
            )
            continue
        wait = backoff(row.attempts)
        row.status = DeliveryStatus.RETRYING
        row.next_attempt_at = now + wait
        counts["retrying"] += 1
        if not row.digest:
            retries[wait.total_seconds()].append(row.pk)
        log.info(
            "notify.delivery.retrying",
            delivery=row.pk,
            channel=row.channel,
            attempts=row.attempts,
            error=row.last_error,
            retry_in_s=wait.total_seconds(),
        )
    with transaction.atomic():
        NotificationDelivery.objects.bulk_update(
            rows, ["status", "attempts", "last_error", "next_attempt_at", "sent_at"]
        )
        for countdown, ids in retries.items():
            transaction.on_commit(partial(queue_deliveries, ids, countdown=countdown))
    return counts


def notify_deliver(*, delivery_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Send the due, unsent, non-digest deliveries among ``delivery_ids``; record each outcome."""
    now = now or timezone.now()
    rows = _claim(
        NotificationDelivery.objects.filter(
            pk__in=delivery_ids,
            digest=False,
            status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING),
            next_attempt_at__lte=now,
        ).order_by("pk"),
        now,
    )
    if not rows:
        return {"sent": 0, "retrying": 0, "failed": 0}
    outcomes: dict[int, Outcome] = {}
    emails = []
    for row in rows:
        if row.channel == Channel.EMAIL and row.user is not None:
            text = _event_text(row.event, row.studio)
            body = email_body(text, preferences_url=preferences_url(row.studio))
            emails.append(([row.pk], EmailMessage(email_subject(text), body, to=[row.user.email])))
        else:
            outcomes[row.pk] = _send_webhook(row)
    if emails:
        outcomes.update(_send_emails(emails))
    return _record(rows, outcomes, now)


def notify_send_digests(*, now: datetime | None = None) -> dict[str, int]:
    """One email per (studio, member) with every digest delivery that is due."""
    now = now or timezone.now()
    rows = _claim(
        NotificationDelivery.objects.filter(
            channel=Channel.EMAIL, digest=True, status__in=UNSENT, next_attempt_at__lte=now
        ).order_by("event__occurred_at", "pk"),
        now,
    )
    if not rows:
        return {"sent": 0, "retrying": 0, "failed": 0}
    groups: dict[tuple[int, int], list[NotificationDelivery]] = defaultdict(list)
    for row in rows:
        groups[(row.studio_id, row.user_id or 0)].append(row)
    emails = []
    for group in groups.values():
        studio, user = group[0].studio, group[0].user
        assert user is not None
        texts = [_event_text(row.event, studio) for row in group]
        body = digest_body(studio.name, texts, preferences_url=preferences_url(studio))
        message = EmailMessage(digest_subject(studio.name, len(texts)), body, to=[user.email])
        emails.append(([row.pk for row in group], message))
    return _record(rows, _send_emails(emails), now)


def notify_dispatch(*, now: datetime | None = None) -> dict[str, int]:
    """The minute job: due digests, then whatever a lost task left behind."""
    now = now or timezone.now()
    stale = now - LOST_AFTER
    unfanned = list(
        NotificationEvent.objects.filter(
            fanned_out_at__isnull=True, occurred_at__lte=stale
        ).values_list("pk", flat=True)[:500]
    )
    for event_id in unfanned:
        notify_fan_out(event_id=event_id, now=now)
    lost = list(
        NotificationDelivery.objects.filter(
            digest=False,
            status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING),
            next_attempt_at__lte=stale,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    transaction.on_commit(lambda: queue_deliveries(lost))
    digests = notify_send_digests(now=now)
    return {"fanned_out": len(unfanned), "requeued": len(lost), **digests}


def notify_delivery_retry(*, studio_id: int, delivery_id: int) -> NotificationDelivery | None:
    """Send a failed delivery again from its first attempt (the page's "Send again")."""
    with transaction.atomic():
        row = (
            NotificationDelivery.objects.select_for_update()
            .filter(pk=delivery_id, studio_id=studio_id, status=DeliveryStatus.FAILED)
            .first()
        )
        if row is None:
            return None
        row.status = DeliveryStatus.DIGEST if row.digest else DeliveryStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = timezone.now()
        row.save(update_fields=["status", "attempts", "next_attempt_at"])
        if not row.digest:
            transaction.on_commit(lambda: queue_deliveries([delivery_id]))
    return row
