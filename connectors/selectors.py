"""Reads for the Connectors page and /readyz, in a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber
from redis.exceptions import RedisError

from connectors.models import ConnectorConfig, ConnectorHealth, DeviceReading
from connectors.runtime import redis_client
from connectors.sdk.breaker import BreakerSnapshot, breaker_snapshots
from connectors.sdk.errors import ErrorCode
from connectors.services import PENDING_CHECK_PREFIX

SPARK_SAMPLES = 30


@dataclass
class ConnectorRow:
    config: ConnectorConfig
    samples: list[ConnectorHealth] = field(default_factory=list)  # newest first
    devices: list[DeviceReading] = field(default_factory=list)
    breaker: BreakerSnapshot | None = None
    pending_since: str | None = None

    @property
    def latest(self) -> ConnectorHealth | None:
        return self.samples[0] if self.samples else None

    @property
    def availability(self) -> str:
        if not self.config.enabled:
            return "disabled"
        return self.latest.availability if self.latest else "unknown"

    @property
    def error_words(self) -> str:
        """The last error, in words staff can act on."""
        latest = self.latest
        if latest is None or not latest.error_code:
            return ""
        try:
            words = ErrorCode(latest.error_code).words
        except ValueError:
            words = "An error happened."
        return f"{words} ({latest.error_message})" if latest.error_message else words

    @property
    def latencies(self) -> list[float]:
        return [s.latency_ms for s in reversed(self.samples) if s.availability != "down"]


def connector_rows(studio_id: int) -> list[ConnectorRow]:
    """Every connector of a studio with its recent health, devices, breaker and pending check.

    Three queries whatever the number of connectors or devices (the samples are cut per
    connector with a window function), plus one Redis round trip.
    """
    configs = list(ConnectorConfig.objects.filter(studio_id=studio_id).order_by("name"))
    rows = {c.pk: ConnectorRow(config=c) for c in configs}
    if not rows:
        return []
    samples = (
        ConnectorHealth.objects.filter(config__studio_id=studio_id)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("config_id")], order_by=F("checked_at").desc())
        )
        .filter(rank__lte=SPARK_SAMPLES)
        .order_by("config_id", "-checked_at")
    )
    for sample in samples:
        rows[sample.config_id].samples.append(sample)
    for reading in DeviceReading.objects.filter(config__studio_id=studio_id).order_by(
        "label", "device_id"
    ):
        rows[reading.config_id].devices.append(reading)
    _attach_redis_state(list(rows.values()))
    return list(rows.values())


def _attach_redis_state(rows: list[ConnectorRow]) -> None:
    try:
        client = redis_client()
        snapshots = breaker_snapshots(client, [r.config.instance_id for r in rows])
        pending = client.mget([f"{PENDING_CHECK_PREFIX}{r.config.pk}" for r in rows])
    except RedisError:
        return  # the page still renders; the breaker column says "unknown"
    for row, flag in zip(rows, pending, strict=True):
        row.breaker = snapshots.get(row.config.instance_id)
        row.pending_since = flag.decode() if isinstance(flag, bytes) else flag


def connector_latest_health() -> list[tuple[ConnectorConfig, ConnectorHealth | None]]:
    """Every enabled connector with its newest sample (two queries), for /readyz."""
    newest = (
        ConnectorHealth.objects.filter(config=OuterRef("pk"))
        .order_by("-checked_at")
        .values("pk")[:1]
    )
    configs = list(
        ConnectorConfig.objects.filter(enabled=True)
        .select_related("studio")
        .annotate(latest_id=Subquery(newest))
        .order_by("studio__slug", "name")
    )
    latest_ids: list[Any] = [c.latest_id for c in configs if c.latest_id]
    samples = ConnectorHealth.objects.in_bulk(latest_ids)
    return [(c, samples.get(c.latest_id)) for c in configs]


def studios_with_enabled_connectors() -> list[int]:
    return sorted(
        set(ConnectorConfig.objects.filter(enabled=True).values_list("studio_id", flat=True))
    )
