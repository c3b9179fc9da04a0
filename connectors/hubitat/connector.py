"""The Hubitat connector: devices, their detail and recent events, normalized.

Respecting the hub: it answers HTTP 500 when it gets a burst, so per-device requests go
through a pool of at most ``max_concurrency`` threads (and as many HTTP connections), and
each request backs off on 429/5xx through the SDK's retry.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from connectors.hubitat.client import MakerApiClient
from connectors.hubitat.schemas import (
    HubitatSettings,
    MakerDeviceDetail,
    MakerDeviceFull,
    MakerDeviceSummary,
    MakerEvent,
)
from connectors.sdk.base import Connector, run_in_context
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.registry import register
from connectors.sdk.schemas import (
    Availability,
    Device,
    HealthReport,
    ReadQuery,
    ReadResult,
    WriteCheck,
    WriteIntent,
    WriteOutcome,
    WritePreview,
)


@register
class HubitatConnector(Connector):
    kind = "hubitat"
    version = "1.0"
    settings_model = HubitatSettings
    secret_keys = ("token",)
    read_resources = ("devices", "device")
    write_operations = ("device.command",)
    description = "Hubitat Elevation hub through the Maker API."
    settings: HubitatSettings

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = MakerApiClient(
            host=self.settings.host,
            app_id=self.settings.app_id,
            token=self.secrets["token"],
            timeout=self.settings.timeout,
            max_connections=self.settings.max_concurrency,
            redact=self.redact,
        )

    def close(self) -> None:
        self.client.close()

    def _health(self) -> HealthReport:
        raw = self.retry(self.client.devices)
        devices = self.client.parse_list(MakerDeviceSummary, raw, "GET /devices")
        return HealthReport(
            availability=Availability.HEALTHY,
            detail=f"Maker API answered with {len(devices)} devices",
            devices_total=len(devices),
            devices_reachable=len(devices),
        )

    def _read(self, query: ReadQuery) -> ReadResult:
        read_at = datetime.now(UTC)
        if query.resource == "device":
            details = self._each(query.device_ids, self._detail)
            devices = [
                normalize(
                    d.id,
                    d.label or d.name,
                    d.type,
                    {a.name: a.currentValue for a in d.attributes},
                    d.date,
                    events,
                )
                for d, events in details
            ]
        else:
            raw = self.retry(self.client.devices_all)
            full = self.client.parse_list(MakerDeviceFull, raw, "GET /devices/all")
            wanted = set(query.device_ids)
            full = [d for d in full if not wanted or d.id in wanted]
            events = self._each([d.id for d in full], self._events)
            devices = [
                normalize(d.id, d.label or d.name, d.type, d.attributes, d.date, e)
                for d, e in zip(full, events, strict=True)
            ]
        for device in devices:
            device.seen_at = read_at
        return ReadResult(resource=query.resource, read_at=read_at, devices=devices)

    def _execute(self, intent: WriteIntent) -> WriteOutcome:
        if intent.operation != "device.command":
            return super()._execute(intent)
        command = str(intent.params.get("command", ""))
        if not self.settings.allows(intent.target, command):
            # Defence in depth: governance checked the allowlist already; nothing is sent.
            raise ConnectorError(
                ErrorCode.UNKNOWN,
                f"'{command}' on device {intent.target} is not on this hub's command allowlist",
                transient=False,
            )
        # A command is not retried: the hub may have acted on it even when the answer was lost.
        answer = self.client.command(intent.target, command)
        switch = _switch_of(answer) if isinstance(answer, dict) else None
        return WriteOutcome(
            accepted=True,
            detail=f"sent {command} to device {intent.target}",
            result={"device": intent.target, "command": command, "switch": switch},
        )

    def _preview(self, intent: WriteIntent) -> WritePreview:
        command = str(intent.params.get("command", ""))
        current = self._switch_state(intent.target)
        notes = []
        if not self.settings.allows(intent.target, command):
            notes.append(
                f"Device {intent.target} may not receive '{command}': it is not on this hub's "
                "command allowlist, so execution will be refused."
            )
        if self.read_only:
            notes.append(
                "This connector is read-only: execution will be refused until it is "
                "switched to write_pilot mode."
            )
        if current.get("switch") == command:
            notes.append(f"The device is already {command}; the command changes nothing.")
        return WritePreview(
            operation=intent.operation,
            target=intent.target,
            current=current,
            expected={**current, "switch": command},
            notes=notes,
        )

    def _verify(self, intent: WriteIntent) -> WriteCheck:
        state = self._switch_state(intent.target)
        return WriteCheck(
            target=intent.target,
            state=state,
            applied=state.get("switch") == intent.params.get("command"),
        )

    def _switch_state(self, device_id: str) -> dict[str, Any]:
        raw = self.retry(self.client.device, device_id)
        detail = self.client.parse(MakerDeviceDetail, raw, f"GET /devices/{device_id}")
        return {
            "device": detail.id,
            "label": detail.label or detail.name,
            "switch": _switch_of(raw),
        }

    # -- helpers -----------------------------------------------------------------------

    def _detail(self, device_id: str) -> tuple[MakerDeviceDetail, list[MakerEvent]]:
        raw = self.retry(self.client.device, device_id)
        detail = self.client.parse(MakerDeviceDetail, raw, f"GET /devices/{device_id}")
        return detail, self._events(device_id)

    def _events(self, device_id: str) -> list[MakerEvent]:
        if self.settings.events_per_device == 0:
            return []
        raw = self.retry(self.client.device_events, device_id)
        events = self.client.parse_list(MakerEvent, raw, f"GET /devices/{device_id}/events")
        return events[: self.settings.events_per_device]

    def _each(self, ids: Any, fetch: Any) -> list[Any]:
        """``fetch(id)`` for every id, at most ``max_concurrency`` at a time, in order."""
        ids = list(ids)
        if not ids:
            return []
        workers = min(self.settings.max_concurrency, len(ids))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hubitat") as pool:
            futures = [pool.submit(run_in_context(fetch, device_id)) for device_id in ids]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def normalize(
    device_id: str,
    label: str,
    device_type: str,
    attributes: dict[str, Any],
    date: str | None,
    events: list[MakerEvent],
) -> Device:
    """Hubitat's view of a device, in the cockpit's words (docs/domain.md: online when switch=on,
    online=true or presence=present; battery clamped to 0-100)."""
    values = {str(k): v for k, v in attributes.items()}
    online = (
        _text(values.get("switch")) == "on"
        or _text(values.get("online")) == "true"
        or _text(values.get("presence")) == "present"
    )
    times = [
        t
        for t in [parse_hub_time(date), *(parse_hub_time(e.date) for e in events)]
        if t is not None
    ]
    return Device(
        id=device_id,
        label=label or device_id,
        type=device_type,
        online=online,
        battery=values.get("battery"),
        attributes=values,
        last_activity=max(times) if times else None,
        details={"recent_events": [e.model_dump() for e in events]},
    )


def _switch_of(detail: Any) -> str | None:
    """The ``switch`` attribute of a device detail (``/devices/<id>`` or a command's answer)."""
    for attribute in detail.get("attributes", []) if isinstance(detail, dict) else []:
        if isinstance(attribute, dict) and attribute.get("name") == "switch":
            value = attribute.get("currentValue")
            return None if value is None else str(value)
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower() if value is not None else ""


def parse_hub_time(value: str | None) -> datetime | None:
    """The hub writes ``2024-03-01T10:15:30+0000`` (and sometimes with milliseconds)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


__all__ = ["ConnectorError", "ErrorCode", "HubitatConnector", "normalize"]
