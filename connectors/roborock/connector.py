"""The Roborock connector: status, battery, error, consumables, clean summary and last clean
of every configured vacuum, polled concurrently (bounded) with a hard deadline each.

A vacuum that does not answer is returned ``reachable=False`` with its error; the health
job keeps its last good reading and reports it offline once it has been unseen for
``offline_after_minutes`` (docs/domain.md: 30 minutes).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from miio.integrations.roborock.vacuum.vacuumcontainers import (
    CleaningDetails,
    CleaningSummary,
    ConsumableStatus,
    VacuumStatus,
)

from connectors.roborock.client import VacuumLink, call_with_deadline
from connectors.roborock.schemas import (
    CleanSummary,
    Consumables,
    LastClean,
    RoborockSettings,
    VacuumDetails,
    VacuumEntry,
)
from connectors.sdk.base import Connector, run_in_context
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.registry import register
from connectors.sdk.schemas import (
    Availability,
    ConnectorSettings,
    Device,
    HealthReport,
    ReadQuery,
    ReadResult,
    WriteCheck,
    WriteIntent,
    WriteOutcome,
    WritePreview,
)

# Write pilot commands (sent only in write_pilot mode, only through governance).
COMMANDS = {
    "vacuum.start": "app_start",
    "vacuum.pause": "app_pause",
    "vacuum.dock": "app_charge",
    "vacuum.find": "find_me",
}
# What get_status shows once a command took effect (miIO state codes: 5 cleaning, 10 paused,
# 6 returning home, 15 docking, 8 charging). "find" only plays a sound: the status can show it
# only where the model reports ``is_locating``.
EXPECTED_STATES: dict[str, frozenset[int]] = {
    "vacuum.start": frozenset({5}),
    "vacuum.pause": frozenset({10}),
    "vacuum.dock": frozenset({6, 8, 15}),
}
STATE_FIELDS = ("state", "in_cleaning", "in_returning", "is_locating", "battery", "error_code")


@register
class RoborockConnector(Connector):
    kind = "roborock"
    version = "1.0"
    settings_model = RoborockSettings
    read_resources = ("devices",)
    write_operations = tuple(COMMANDS)
    description = "Roborock vacuums over miIO (UDP 54321)."
    settings: RoborockSettings

    @classmethod
    def required_secret_keys(cls, settings: ConnectorSettings) -> tuple[str, ...]:
        assert isinstance(settings, RoborockSettings)
        return tuple(sorted({entry.token for entry in settings.devices}))

    # -- operations ----------------------------------------------------------------------

    def _health(self) -> HealthReport:
        outcomes = self._each(self.settings.devices, self._status_only)
        failures = [o for o in outcomes if isinstance(o, ConnectorError)]
        total, reachable = len(outcomes), len(outcomes) - len(failures)
        if reachable == 0:
            raise _worst(failures, total)
        availability = Availability.HEALTHY if not failures else Availability.DEGRADED
        detail = f"{reachable} of {total} vacuums answered"
        if failures:
            detail += f"; {failures[0].code}: {failures[0].message}"
        return HealthReport(
            availability=availability,
            detail=detail[:300],
            devices_total=total,
            devices_reachable=reachable,
        )

    def _read(self, query: ReadQuery) -> ReadResult:
        wanted = set(query.device_ids)
        entries = [e for e in self.settings.devices if not wanted or e.id in wanted]
        outcomes = self._each(entries, self._full_reading)
        failures = [o for o in outcomes if isinstance(o, ConnectorError)]
        if entries and len(failures) == len(entries):
            raise _worst(failures, len(entries))
        devices = [
            outcome
            if isinstance(outcome, Device)
            else _unreachable(entry, self.settings.model, outcome)
            for entry, outcome in zip(entries, outcomes, strict=True)
        ]
        return ReadResult(resource=query.resource, read_at=datetime.now(UTC), devices=devices)

    def _execute(self, intent: WriteIntent) -> WriteOutcome:
        method = COMMANDS.get(intent.operation)
        entry = next((e for e in self.settings.devices if e.id == intent.target), None)
        if method is None or entry is None:
            return super()._execute(intent)
        link = self._link(entry)
        params = [""] if method == "find_me" else None
        # Not retried: the vacuum may have acted even if its answer was lost.
        result = call_with_deadline(
            lambda: link.send(method, params), self.settings.timeout, f"{method} on {entry.id}"
        )
        return WriteOutcome(
            accepted=result in (["ok"], "ok", 0, [0]),
            detail=f"{method} → {result!r}"[:200],
            result={"device": entry.id, "method": method, "answer": repr(result)[:100]},
        )

    def _preview(self, intent: WriteIntent) -> WritePreview:
        entry = self._entry(intent)
        current = self._raw_state(entry)
        expected = dict(current)
        if intent.operation in EXPECTED_STATES:
            codes = sorted(EXPECTED_STATES[intent.operation])
            expected["state"] = codes[0] if len(codes) == 1 else codes
        else:
            expected["is_locating"] = 1
        notes = []
        if self.read_only:
            notes.append(
                "This connector is read-only: execution will be refused until it is "
                "switched to write_pilot mode."
            )
        if _applied(intent.operation, current):
            notes.append("The vacuum already shows this state; the command changes nothing.")
        return WritePreview(
            operation=intent.operation,
            target=intent.target,
            current=current,
            expected=expected,
            notes=notes,
        )

    def _verify(self, intent: WriteIntent) -> WriteCheck:
        entry = self._entry(intent)
        state = self._raw_state(entry)
        return WriteCheck(
            target=intent.target, state=state, applied=_applied(intent.operation, state)
        )

    def _entry(self, intent: WriteIntent) -> VacuumEntry:
        entry = next((e for e in self.settings.devices if e.id == intent.target), None)
        if entry is None:
            raise ConnectorError(
                ErrorCode.UNKNOWN,
                f"no vacuum {intent.target!r} in this connector's settings",
                transient=False,
            )
        return entry

    def _raw_state(self, entry: VacuumEntry) -> dict[str, Any]:
        """The status fields a command changes, as the vacuum reports them."""

        def work(link: VacuumLink) -> dict[str, Any]:
            raw = link.send("get_status")
            try:
                status = dict(raw[0])
            except (TypeError, KeyError, IndexError, ValueError):
                raise ConnectorError(
                    ErrorCode.BAD_RESPONSE,
                    f"get_status on vacuum {entry.id} answered an unexpected shape",
                    diagnostic=self.redact(json.dumps(raw, default=str)[:200]),
                ) from None
            state = {key: status[key] for key in STATE_FIELDS if key in status}
            state["device"] = entry.id
            return state

        state: dict[str, Any] = self.retry(self._attempt, entry, work)
        return state

    # -- per device ----------------------------------------------------------------------

    def _link(self, entry: VacuumEntry) -> VacuumLink:
        return VacuumLink(
            ip=entry.ip,
            token=self.secrets[entry.token],
            model=self.settings.model,
            timeout=self.settings.timeout,
        )

    def _attempt(self, entry: VacuumEntry, work: Callable[[VacuumLink], Any]) -> Any:
        """One deadline-bounded try against a fresh link (a late thread keeps the old one)."""
        return call_with_deadline(
            lambda: work(self._link(entry)), self.settings.timeout, f"vacuum {entry.id}"
        )

    def _status_only(self, entry: VacuumEntry) -> Any:
        return self.retry(
            self._attempt, entry, lambda link: self._parse_status(link.send("get_status"), entry)
        )

    def _full_reading(self, entry: VacuumEntry) -> Device:
        def work(link: VacuumLink) -> Device:
            status = self._parse_status(link.send("get_status"), entry)
            consumables = self._parse(
                entry, "get_consumable", link.send("get_consumable"), _consumables
            )
            summary_raw = link.send("get_clean_summary")
            summary, ids = self._parse(entry, "get_clean_summary", summary_raw, _summary)
            last = None
            if ids:
                record = link.send("get_clean_record", [ids[0]])
                last = (
                    self._parse(entry, "get_clean_record", record, _last_clean) if record else None
                )
            details = VacuumDetails(
                state=status.state,
                state_code=status.state_code,
                error=status.error,
                error_code=status.error_code,
                fan_speed=status.fanspeed,
                consumables=consumables,
                clean_summary=summary,
                last_clean=last,
            )
            now = datetime.now(UTC)
            return Device(
                id=entry.id,
                label=entry.label or entry.id,
                type=self.settings.model,
                online=True,
                battery=status.battery,
                seen_at=now,
                attributes={
                    "state": status.state,
                    "error": status.error,
                    "in_cleaning": bool(status.is_on),
                    "fan_speed": status.fanspeed,
                },
                last_activity=last.end if last else None,
                details=details.model_dump(mode="json"),
            )

        return self.retry(self._attempt, entry, work)

    def _parse_status(self, raw: Any, entry: VacuumEntry) -> VacuumStatus:
        def build(data: Any) -> VacuumStatus:
            status = VacuumStatus(data[0])
            # Touch every field we use: a garbage payload fails here, not in the template.
            _ = (
                status.state,
                status.state_code,
                status.error,
                status.error_code,
                status.battery,
                status.fanspeed,
                status.is_on,
            )
            return status

        return self._parse(entry, "get_status", raw, build)

    def _parse(self, entry: VacuumEntry, method: str, raw: Any, build: Callable[[Any], Any]) -> Any:
        try:
            return build(raw)
        except Exception as error:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"{method} on vacuum {entry.id} answered an unexpected shape "
                f"({type(error).__name__})",
                diagnostic=self.redact(json.dumps(raw, default=str)[:200]),
            ) from None

    def _each(self, entries: Any, fetch: Callable[[VacuumEntry], Any]) -> list[Any]:
        """``fetch(entry)`` for every vacuum, ``max_concurrency`` at once; errors are returned."""
        entries = list(entries)
        if not entries:
            return []

        def guarded(entry: VacuumEntry) -> Any:
            try:
                return fetch(entry)
            except ConnectorError as error:
                return error

        with ThreadPoolExecutor(
            max_workers=min(self.settings.max_concurrency, len(entries)),
            thread_name_prefix="roborock",
        ) as pool:
            # Bind each job to this thread's context here (request id, attempt counter).
            jobs = [run_in_context(guarded, entry) for entry in entries]
            return list(pool.map(lambda job: job(), jobs))


def _applied(operation: str, state: dict[str, Any]) -> bool | None:
    """Whether a vacuum's status shows ``operation`` took effect (None: it cannot tell)."""
    if operation in EXPECTED_STATES:
        return state.get("state") in EXPECTED_STATES[operation]
    if "is_locating" in state:
        return bool(state["is_locating"])
    return None


def _consumables(raw: Any) -> Consumables:
    c = ConsumableStatus(raw[0])
    hours = 3600.0
    return Consumables(
        filter_left_h=round(c.filter_left.total_seconds() / hours, 1),
        main_brush_left_h=round(c.main_brush_left.total_seconds() / hours, 1),
        side_brush_left_h=round(c.side_brush_left.total_seconds() / hours, 1),
        sensor_left_h=round(c.sensor_dirty_left.total_seconds() / hours, 1),
    )


def _summary(raw: Any) -> tuple[CleanSummary, list[int]]:
    s = CleaningSummary(raw)
    summary = CleanSummary(
        count=int(s.count),
        total_duration_s=int(s.total_duration.total_seconds()),
        total_area_m2=round(float(s.total_area), 2),
    )
    return summary, [int(i) for i in s.ids]


def _last_clean(raw: Any) -> LastClean:
    d = CleaningDetails(raw[-1])
    return LastClean(
        start=d.start.astimezone(UTC),
        end=d.end.astimezone(UTC),
        duration_s=int(d.duration.total_seconds()),
        area_m2=round(float(d.area), 2),
        complete=bool(d.complete),
        error=str(d.error),
    )


def _unreachable(entry: VacuumEntry, model: str, error: ConnectorError) -> Device:
    return Device(
        id=entry.id,
        label=entry.label or entry.id,
        type=model,
        online=False,
        reachable=False,
        problem=f"{error.code}: {error.message}"[:300],
    )


def _worst(failures: list[ConnectorError], total: int) -> ConnectorError:
    """Every vacuum failed: report the most common code, keeping one example's diagnostic."""
    code, _count = Counter(f.code for f in failures).most_common(1)[0]
    example = next(f for f in failures if f.code == code)
    return ConnectorError(
        code,
        f"none of {total} vacuums answered; e.g. {example.message}",
        transient=example.transient,
        diagnostic=example.diagnostic,
    )
