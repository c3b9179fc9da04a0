"""The periodic look for conditions nobody "does": a connector down too long, a stale snapshot.

Each finding is emitted once (its ``dedupe_key`` names the outage or the snapshot), so the
scan can run every few minutes. Proposals expiring soon are found by governance's own scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from brain.models import Role, Snapshot, Studio
from brain.notify.models import EventKind, Severity
from brain.notify.services import notify_emit
from connectors.models import ConnectorHealth
from connectors.selectors import connector_latest_health

# docs/notifications.md: "connector down for more than 15 minutes".
CONNECTOR_DOWN_FOR = timedelta(minutes=15)


def _outage_start(config_id: int) -> ConnectorHealth | None:
    """The first ``down`` sample after the connector's last sample that was not down."""
    last_up = (
        ConnectorHealth.objects.filter(config_id=config_id)
        .exclude(availability=ConnectorHealth.Availability.DOWN)
        .order_by("-checked_at")
        .values_list("checked_at", flat=True)
        .first()
    )
    downs = ConnectorHealth.objects.filter(
        config_id=config_id, availability=ConnectorHealth.Availability.DOWN
    )
    if last_up is not None:
        downs = downs.filter(checked_at__gt=last_up)
    return downs.order_by("checked_at", "pk").first()


def notify_scan_connectors(*, now: datetime) -> int:
    emitted = 0
    for config, latest in connector_latest_health():
        if latest is None or latest.availability != ConnectorHealth.Availability.DOWN:
            continue
        start = _outage_start(config.pk)
        if start is None or now - start.checked_at < CONNECTOR_DOWN_FOR:
            continue
        minutes = int((now - start.checked_at).total_seconds() // 60)
        path = reverse("cockpit:connectors", kwargs={"studio": config.studio.slug})
        event = notify_emit(
            studio_id=config.studio_id,
            kind=EventKind.CONNECTOR_DOWN,
            severity=Severity.HIGH,
            title=f"Connector {config.name} has been down for {minutes} minutes",
            body=latest.error_message[:300] or "It does not answer its health check.",
            link_path=f"{path}#connector-{config.name}",
            min_role=Role.OPERATOR,
            dedupe_key=f"connector:{config.pk}:down:{start.pk}",
            occurred_at=now,
        )
        emitted += event is not None
    return emitted


def notify_scan_snapshots(*, now: datetime) -> int:
    max_age = settings.BRAIN.snapshot_max_age
    emitted = 0
    for studio in Studio.objects.all():
        latest = (
            Snapshot.objects.filter(studio=studio)
            .order_by("-generated_at", "-pk")
            .only("pk", "generated_at")
            .first()
        )
        if latest is None or now - latest.generated_at <= max_age:
            continue
        hours = (now - latest.generated_at).total_seconds() / 3600
        event = notify_emit(
            studio_id=studio.pk,
            kind=EventKind.SNAPSHOT_STALE,
            severity=Severity.NORMAL,
            title=f"The studio snapshot is {hours:.1f} hours old",
            body="Readiness and the cockpit treat it as stale until a capture succeeds.",
            link_path=reverse("cockpit:state", kwargs={"studio": studio.slug}),
            min_role=Role.OPERATOR,
            dedupe_key=f"snapshot:{latest.pk}:stale",
            occurred_at=now,
        )
        emitted += event is not None
    return emitted


def notify_scan(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        "connector_down": notify_scan_connectors(now=now),
        "snapshot_stale": notify_scan_snapshots(now=now),
    }
