"""Notification rows: what each member wants, the studio's webhook, the outbox and its deliveries.

Imported by ``brain.models`` so they belong to the ``brain`` app. An event is written once
(the outbox), fanned out into one delivery per (recipient, channel), and every delivery keeps
its attempts, status, last error and next retry, so nothing that could not be sent is lost
silently: it stays on the Notifications page as failed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EventKind(models.TextChoices):
    """What can reach a member. Stored values never change meaning."""

    PROPOSAL_NEEDS_APPROVAL = "proposal_needs_approval", "New proposal needing my role"
    PROPOSAL_EXPIRING = "proposal_expiring", "Proposal expiring within 2 hours"
    KILL_SWITCH_ENGAGED = "kill_switch_engaged", "Kill switch engaged"
    KILL_SWITCH_RELEASED = "kill_switch_released", "Kill switch released"
    CONNECTOR_DOWN = "connector_down", "Connector down for more than 15 minutes"
    SNAPSHOT_STALE = "snapshot_stale", "Snapshot stale"


class Severity(models.IntegerChoices):
    """High and critical events are emailed one by one at once; the rest go into the digest."""

    NORMAL = 20, "normal"
    HIGH = 30, "high"
    CRITICAL = 40, "critical"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class NotificationPreference(models.Model):
    """One member's choice, per studio: which events reach them on which channel.

    ``channels`` maps an event kind to the channels chosen for it, e.g.
    ``{"kill_switch_engaged": ["email", "webhook"]}``; a kind that is absent is off. A member
    without a row gets ``default_channels()``.
    """

    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.CASCADE, related_name="notification_preferences"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    channels = models.JSONField(default=dict, blank=True)
    digest_interval = models.DurationField(
        help_text="Normal events are collected into one email at most this often."
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["studio", "user"], name="notifypref_one_per_member")
        ]

    def __str__(self) -> str:
        return f"notification preferences of {self.user_id} @ {self.studio_id}"

    def wants(self, kind: str, channel: str) -> bool:
        return channel in self.channels.get(kind, [])


def default_channels() -> dict[str, list[str]]:
    """Everything by email, nothing by webhook, until the member says otherwise."""
    return {kind.value: [Channel.EMAIL.value] for kind in EventKind}


class WebhookEndpoint(models.Model):
    """A studio's webhook: where Slack-compatible JSON is posted, signed with an HMAC secret.

    Like connector secrets, the secret itself is never stored: ``secret_env`` names the
    environment variable (or ``NAME_FILE``) that holds it.
    """

    studio = models.OneToOneField(
        "brain.Studio", on_delete=models.CASCADE, related_name="webhook_endpoint"
    )
    url = models.URLField(max_length=500)
    secret_env = models.CharField(
        max_length=128, help_text="Environment variable holding the HMAC secret, e.g. SLACK_HMAC."
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"webhook of {self.studio_id}"


class NotificationEvent(models.Model):
    """The outbox: one row per thing that happened, written in the transaction that caused it.

    ``dedupe_key`` makes the periodic scan idempotent (one "expiring" per proposal, one
    "down" per outage); it is empty for events that happen once by nature.
    """

    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.CASCADE, related_name="notification_events"
    )
    kind = models.CharField(max_length=40, choices=EventKind.choices)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link_path = models.CharField(max_length=300, help_text="Cockpit path of the thing.")
    min_role = models.PositiveSmallIntegerField(help_text="Members with this role or above.")
    exclude_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dedupe_key = models.CharField(max_length=120, blank=True)
    occurred_at = models.DateTimeField()
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notifyevent_dedupe",
            )
        ]
        indexes = [
            # The sweep: "events written but not fanned out yet".
            models.Index(
                fields=["occurred_at"],
                condition=models.Q(fanned_out_at__isnull=True),
                name="notifyevent_unfanned",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.title}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "waiting to be sent"
    DIGEST = "digest", "waiting for the next digest"
    RETRYING = "retrying", "failed, will retry"
    SENT = "sent", "sent"
    FAILED = "failed", "failed, gave up"


class NotificationDelivery(models.Model):
    """One event to one recipient on one channel (a webhook delivery has no recipient)."""

    event = models.ForeignKey(
        NotificationEvent, on_delete=models.CASCADE, related_name="deliveries"
    )
    studio = models.ForeignKey("brain.Studio", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    digest = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel", "user"], name="notifydelivery_one_per_recipient"
            ),
            models.UniqueConstraint(
                fields=["event", "channel"],
                condition=models.Q(user__isnull=True),
                name="notifydelivery_one_webhook",
            ),
        ]
        indexes = [
            # The delivery log of a studio, newest first.
            models.Index(fields=["studio", "-created_at", "-id"], name="notifydelivery_log"),
            # The dispatcher: "unsent deliveries that are due".
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "digest", "retrying"]),
                name="notifydelivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} of event {self.event_id}: {self.status}"
