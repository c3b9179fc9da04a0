"""Hubitat settings and the Maker API's wire shapes (as documented by Hubitat)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.sdk.schemas import ConnectorSettings


class HubitatSettings(ConnectorSettings):
    host: str = Field(description="Base URL of the hub, e.g. http://192.168.1.20")
    app_id: int = Field(ge=1, description="Maker API app id (the number in /apps/api/<id>/).")
    events_per_device: int = Field(
        10, ge=0, le=100, description="Recent events read per device (0: none)."
    )
    # The write pilot: which device may receive which command. Empty: no command at all,
    # whatever the connector's mode. Checked by governance before an execution is allowed and
    # again here before anything is sent.
    command_allowlist: dict[str, tuple[Literal["on", "off"], ...]] = Field(
        default_factory=dict,
        description='Device id → commands it may receive, e.g. {"101": ["on", "off"]}.',
    )

    @field_validator("command_allowlist")
    @classmethod
    def allowlist_names_device_ids(
        cls, value: dict[str, tuple[str, ...]]
    ) -> dict[str, tuple[str, ...]]:
        for device_id in value:
            if not device_id.isdigit():
                raise ValueError(f"{device_id!r} is not a Hubitat device id (digits only)")
        return value

    def allows(self, device_id: str, command: str) -> bool:
        return command in self.command_allowlist.get(device_id, ())

    @field_validator("host")
    @classmethod
    def host_is_a_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("must name the hub's address, e.g. http://192.168.1.20")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                "must not carry a query, fragment or credentials (the token is a secret)"
            )
        return value.strip().rstrip("/")


class _Wire(BaseModel):
    # The hub adds fields between firmware versions: keep what we know, ignore the rest.
    model_config = ConfigDict(extra="ignore")


class MakerDeviceSummary(_Wire):
    id: str
    name: str = ""
    label: str | None = None
    type: str = ""

    @field_validator("id", mode="before")
    @classmethod
    def id_as_text(cls, value: Any) -> str:
        return str(value)


class MakerDeviceFull(MakerDeviceSummary):
    """One entry of ``/devices/all``: attributes as a name → value object."""

    date: str | None = None
    capabilities: list[Any] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class MakerAttribute(_Wire):
    name: str
    currentValue: Any = None


class MakerDeviceDetail(MakerDeviceSummary):
    """``/devices/<id>``: attributes as a list of {name, currentValue, dataType}."""

    date: str | None = None
    attributes: list[MakerAttribute] = Field(default_factory=list)


class MakerEvent(_Wire):
    name: str = ""
    value: Any = None
    date: str | None = None
