"""Roborock settings and the normalized vacuum reading."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.sdk.schemas import ConnectorSettings


class VacuumEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    label: str = ""
    ip: str
    token: str = Field(
        "token",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Secret key (in the config's secrets) of this device's token.",
    )

    @field_validator("ip")
    @classmethod
    def ip_is_an_address(cls, value: str) -> str:
        try:
            return str(ipaddress.IPv4Address(value.strip()))
        except ValueError:
            raise ValueError("must be an IPv4 address such as 192.168.1.40") from None


class RoborockSettings(ConnectorSettings):
    devices: tuple[VacuumEntry, ...] = Field(min_length=1, max_length=64)
    model: str = Field("roborock.vacuum.a15", pattern=r"^roborock\.vacuum\.[a-z0-9]+$")
    # docs/domain.md: a Roborock device unseen for 30 minutes is offline.
    offline_after_minutes: int = Field(30, ge=1, le=1440)
    # Every vacuum is polled at once up to this many; miIO calls are cheap but blocking.
    max_concurrency: int = Field(10, ge=1, le=32)
    retry_attempts: int = Field(2, ge=1, le=10)

    @model_validator(mode="after")
    def ids_are_unique(self) -> RoborockSettings:
        ids = [d.id for d in self.devices]
        if len(ids) != len(set(ids)):
            raise ValueError("device ids must be unique")
        return self


class Consumables(BaseModel):
    """Hours of life left (negative: overdue) and percent used, per part."""

    filter_left_h: float
    main_brush_left_h: float
    side_brush_left_h: float
    sensor_left_h: float


class CleanSummary(BaseModel):
    count: int
    total_duration_s: int
    total_area_m2: float


class LastClean(BaseModel):
    start: datetime
    end: datetime
    duration_s: int
    area_m2: float
    complete: bool
    error: str


class VacuumDetails(BaseModel):
    state: str
    state_code: int
    error: str
    error_code: int
    fan_speed: int | None
    consumables: Consumables | None = None
    clean_summary: CleanSummary | None = None
    last_clean: LastClean | None = None
