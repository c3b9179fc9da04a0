"""Typed inputs and outputs shared by every connector (pydantic models).

A connector may add kind-specific fields under ``Device.details``; everything the cockpit
and the health job rely on is here, normalized.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Availability(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"


class ConnectorSettings(BaseModel):
    """Settings every connector has. A kind's schema extends it; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(5.0, ge=0.05, le=60, description="Seconds one request may take.")
    retry_attempts: int = Field(
        3, ge=1, le=10, description="Tries per request for transient errors."
    )
    retry_wait_initial: float = Field(0.2, ge=0, le=10, description="First backoff, seconds.")
    retry_wait_max: float = Field(5.0, ge=0, le=60, description="Longest backoff, seconds.")
    retry_jitter: float = Field(0.2, ge=0, le=10, description="Random extra backoff, seconds.")
    total_timeout: float = Field(
        45.0, ge=0.1, le=600, description="Seconds a call may spend retrying."
    )
    max_concurrency: int = Field(4, ge=1, le=32, description="Requests in flight at once.")


class CallMeta(BaseModel):
    """Who asked (request/job id), what went in and out (hashes), how long it took."""

    kind: str
    instance: str
    operation: str
    request_id: str | None
    job_id: str | None
    input_hash: str
    output_hash: str
    latency_ms: float
    attempts: int
    breaker_state: str


class HealthReport(BaseModel):
    availability: Availability
    detail: str = ""
    devices_total: int | None = None
    devices_reachable: int | None = None
    meta: CallMeta | None = None


class Device(BaseModel):
    """A device as the cockpit shows it, whatever the kind."""

    id: str
    label: str
    type: str
    online: bool
    # False when the device did not answer this read (its other fields are then empty;
    # the health job keeps the last good reading and decides "offline" from last_seen).
    reachable: bool = True
    battery: int | None = Field(default=None, description="Percent, clamped to 0-100.")
    attributes: dict[str, Any] = Field(default_factory=dict)
    last_activity: datetime | None = None
    seen_at: datetime | None = None
    problem: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("battery", mode="before")
    @classmethod
    def clamp_battery(cls, value: Any) -> int | None:
        return clamp_battery(value)


def clamp_battery(value: Any) -> int | None:
    """A battery level as 0-100, or None when the device reports none or nonsense."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number:  # NaN
        return None
    return round(min(100.0, max(0.0, number)))


class ReadQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resource: str = "devices"
    device_ids: tuple[str, ...] = ()
    # Kind-specific arguments of a record read (a Firestore collection and read time, a
    # Stripe created-since bound). Plain JSON values, so the input hash covers them.
    params: dict[str, Any] = Field(default_factory=dict)


class Record(BaseModel):
    """One cloud record as read: where it lives, its id, its fields, when it last changed.

    ``fields`` holds Python values as the client decoded them (datetimes stay datetimes);
    the brain normalizes them to canonical JSON when it mirrors the record.
    """

    collection: str
    id: str
    fields: dict[str, Any]
    updated_at: datetime | None = None


class ReadResult(BaseModel):
    """What one read returned: devices (device kinds) or records (cloud kinds).

    ``read_at`` is the server's read time when the server gives one (Firestore), else the
    moment the read finished. ``truncated`` says the read stopped at its scan limit, so
    the records are a prefix of what exists and must not be taken as the whole.
    """

    resource: str
    read_at: datetime
    devices: list[Device] = Field(default_factory=list)
    records: list[Record] = Field(default_factory=list)
    truncated: bool = False
    meta: CallMeta | None = None


class WriteIntent(BaseModel):
    """A command to change something outside. Only governance's execution gateway sends one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=8, max_length=128)


class WriteOutcome(BaseModel):
    """What the outside said. ``replayed``: the idempotency key had been applied before, so
    nothing was written this time. ``result`` holds what a person needs to find the change
    (document ids, the device's answer)."""

    accepted: bool
    detail: str = ""
    replayed: bool = False
    result: dict[str, Any] = Field(default_factory=dict)
    meta: CallMeta | None = None


class WritePreview(BaseModel):
    """A dry run: what a write intent would do, computed and read without changing anything.

    ``current`` is the external state now, ``expected`` the state after the write,
    ``documents`` the exact documents a document store would receive, ``notes`` anything a
    person approving it should know (a device not on the allowlist, a read-only connector).
    """

    operation: str
    target: str
    current: dict[str, Any] = Field(default_factory=dict)
    expected: dict[str, Any] = Field(default_factory=dict)
    documents: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    meta: CallMeta | None = None


class WriteCheck(BaseModel):
    """The external state a write intent concerns, read back (before, after, or to settle a
    write whose worker vanished). ``applied`` is None when the state cannot tell."""

    target: str
    state: dict[str, Any] = Field(default_factory=dict)
    applied: bool | None = None
    meta: CallMeta | None = None
