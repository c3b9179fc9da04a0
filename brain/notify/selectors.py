"""Reads for the Notifications page: a constant number of queries whatever the log's length."""

from __future__ import annotations

from django.db.models import Count, Q

from brain.notify.models import (
    DeliveryStatus,
    NotificationDelivery,
    NotificationPreference,
    WebhookEndpoint,
)

LOG_LIMIT = 50


def delivery_log(studio_id: int, *, failed_only: bool = False) -> list[NotificationDelivery]:
    """The studio's newest deliveries (read off ``notifydelivery_log``), failures first when asked."""
    rows = NotificationDelivery.objects.filter(studio_id=studio_id).select_related("event", "user")
    if failed_only:
        rows = rows.filter(status=DeliveryStatus.FAILED)
    return list(rows.order_by("-created_at", "-id")[:LOG_LIMIT])


def delivery_counts(studio_id: int) -> dict[str, int]:
    return NotificationDelivery.objects.filter(studio_id=studio_id).aggregate(
        total=Count("pk"),
        failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        retrying=Count("pk", filter=Q(status=DeliveryStatus.RETRYING)),
        waiting=Count("pk", filter=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.DIGEST])),
    )


def preference_get(studio_id: int, user_id: int) -> NotificationPreference | None:
    return NotificationPreference.objects.filter(studio_id=studio_id, user_id=user_id).first()


def webhook_endpoint_get(studio_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(studio_id=studio_id).first()
