"""Writes of the connectors app: configure a connector, record a health sample, store readings.

Secrets never pass through here: a config names environment variables, and the connector
reads them when it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.models import ConnectorConfig, ConnectorHealth, DeviceReading
from connectors.runtime import (
    build_connector,
    redis_client,
    validate_secret_names,
    validate_settings,
)
from connectors.sdk.base import CallContext
from connectors.sdk.errors import ConfigurationError, ConnectorError, ErrorCode
from connectors.sdk.schemas import Availability, ReadQuery, ReadResult

PENDING_CHECK_PREFIX = "brain:connector-check:"
PENDING_CHECK_TTL = 300


def connector_settings_validate(
    *, kind: str, settings: Mapping[str, Any], secret_env: Mapping[str, str], mode: str
) -> dict[str, Any]:
    """The settings as stored (typed, then JSON), or ``ConfigurationError`` naming each bad
    field: unknown kind, bad setting, missing or badly named secret, unknown mode."""
    typed = validate_settings(kind, settings)
    validate_secret_names(kind, typed, secret_env)
    if mode not in ConnectorConfig.Mode.values:
        raise ConfigurationError(
            [("mode", f"must be one of {', '.join(ConnectorConfig.Mode.values)}")]
        )
    return typed.model_dump(mode="json", exclude_unset=True)


def connector_config_create(
    *,
    studio_id: int,
    kind: str,
    name: str,
    settings: Mapping[str, Any],
    secret_env: Mapping[str, str],
    enabled: bool = True,
    mode: str = ConnectorConfig.Mode.READ_ONLY,
) -> ConnectorConfig:
    """Create a connector for a studio. Raises ``ConfigurationError`` naming each bad field.

    Staff and the CLI go through ``governance.services.connector_configs``, which audits it."""
    stored = connector_settings_validate(
        kind=kind, settings=settings, secret_env=secret_env, mode=mode
    )
    try:
        with transaction.atomic():
            return ConnectorConfig.objects.create(
                studio_id=studio_id,
                kind=kind,
                name=name,
                settings=stored,
                secret_env=dict(secret_env),
                enabled=enabled,
                mode=mode,
            )
    except IntegrityError:
        raise ConfigurationError(
            [("name", f"{name!r} is already used by another connector of this studio")]
        ) from None


@dataclass(frozen=True)
class PollOutcome:
    health: ConnectorHealth
    devices: int

    def as_json(self) -> dict[str, Any]:
        return {
            "availability": self.health.availability,
            "error_code": self.health.error_code,
            "latency_ms": self.health.latency_ms,
            "devices": self.devices,
        }


def connector_poll(*, config: ConnectorConfig, context: CallContext | None = None) -> PollOutcome:
    """Check a connector's health, and when it answers, read its devices; keep both.

    Never raises for a peer's failure: an unreachable host becomes a ``down`` sample with
    its code (UNAVAILABLE, TIMEOUT, ...), which is what the cockpit and /readyz show.
    """
    context = context or CallContext.current()
    now = timezone.now()
    try:
        connector = build_connector(config)
    except ConfigurationError as error:
        sample = _sample(
            config,
            now,
            Availability.DOWN,
            context,
            code=ErrorCode.UNKNOWN,
            message=f"configuration: {error}",
        )
        return PollOutcome(sample, 0)
    try:
        try:
            report = connector.health(context)
        except ConnectorError as error:
            sample = _sample(
                config,
                now,
                Availability.DOWN,
                context,
                code=error.code,
                message=error.message,
                diagnostic=error.diagnostic,
            )
            device_readings_mark_unseen(
                config=config, now=now, problem=f"{error.code}: {error.message}"
            )
            return PollOutcome(sample, 0)
        availability = Availability(report.availability)
        code, message, diagnostic, stored = None, "", "", 0
        try:
            # Cloud kinds (Firestore, Stripe) have no devices: their reads belong to captures.
            if "devices" in connector.read_resources:
                result = connector.read(ReadQuery(resource="devices"), context)
                stored = device_readings_store(config=config, result=result)
        except ConnectorError as error:
            # Health answered but the read did not: usable, not healthy.
            availability, code, message, diagnostic = (
                Availability.DEGRADED,
                error.code,
                error.message,
                error.diagnostic,
            )
        sample = _sample(
            config,
            now,
            availability,
            context,
            code=code,
            message=message,
            diagnostic=diagnostic,
            latency_ms=report.meta.latency_ms if report.meta else 0.0,
            detail=report.detail,
            total=report.devices_total,
            reachable=report.devices_reachable,
        )
        return PollOutcome(sample, stored)
    finally:
        connector.close()


def _sample(
    config: ConnectorConfig,
    now: datetime,
    availability: Availability,
    context: CallContext,
    *,
    code: ErrorCode | None = None,
    message: str = "",
    diagnostic: str = "",
    latency_ms: float = 0.0,
    detail: str = "",
    total: int | None = None,
    reachable: int | None = None,
) -> ConnectorHealth:
    return ConnectorHealth.objects.create(
        config=config,
        checked_at=now,
        availability=availability,
        latency_ms=latency_ms,
        error_code=str(code) if code else "",
        error_message=message[:2000],
        diagnostic=diagnostic[:200],
        detail=detail[:300],
        devices_total=total,
        devices_reachable=reachable,
        request_id=context.request_id or "",
        job_id=context.job_id or "",
    )


def offline_after(config: ConnectorConfig) -> timedelta:
    """How long an unanswering device still counts as online (Roborock: 30 min; others: 0)."""
    minutes = config.settings.get("offline_after_minutes")
    if minutes is None and config.kind == "roborock":
        minutes = 30
    return timedelta(minutes=int(minutes or 0))


@transaction.atomic
def device_readings_store(*, config: ConnectorConfig, result: ReadResult) -> int:
    """Upsert one reading per device. An unreachable device keeps its last good values and
    stays online only while ``last_seen`` is within the connector's offline window."""
    now = timezone.now()
    window = offline_after(config)
    existing = {
        r.device_id: r for r in DeviceReading.objects.select_for_update().filter(config=config)
    }
    for device in result.devices:
        reading = existing.get(device.id) or DeviceReading(config=config, device_id=device.id)
        reading.read_at = now
        reading.label = device.label
        reading.reachable = device.reachable
        reading.problem = device.problem[:300]
        if device.reachable:
            reading.device_type = device.type
            reading.online = device.online
            reading.battery = device.battery
            reading.attributes = device.attributes
            reading.details = device.details
            reading.last_activity = device.last_activity
            reading.last_seen = device.seen_at or now
        else:
            reading.online = bool(
                reading.online and reading.last_seen and now - reading.last_seen < window
            )
        reading.save()
    return len(result.devices)


def device_readings_mark_unseen(*, config: ConnectorConfig, now: datetime, problem: str) -> int:
    """The whole connector failed: every device is unreachable now; offline once unseen too long."""
    window = offline_after(config)
    changed = 0
    for reading in DeviceReading.objects.filter(config=config):
        reading.reachable = False
        reading.problem = problem[:300]
        reading.online = bool(
            reading.online and reading.last_seen and now - reading.last_seen < window
        )
        reading.save(update_fields=["reachable", "problem", "online"])
        changed += 1
    return changed


def connector_check_mark_pending(*, config: ConnectorConfig) -> None:
    """Remember (in Redis, briefly) that a "check now" is queued, so the page shows progress."""
    redis_client().set(
        f"{PENDING_CHECK_PREFIX}{config.pk}", timezone.now().isoformat(), ex=PENDING_CHECK_TTL
    )


def connector_check_clear_pending(*, config_id: int) -> None:
    redis_client().delete(f"{PENDING_CHECK_PREFIX}{config_id}")


def connector_health_prune(*, before: datetime) -> int:
    deleted, _ = ConnectorHealth.objects.filter(checked_at__lt=before).delete()
    return deleted
