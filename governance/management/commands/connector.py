"""Operator CLI: add, change, remove, list, check and read connectors of a studio.

    manage.py connector add --studio S --kind hubitat --name hub1 \\
        --setting host=http://192.168.1.20 --setting app_id=12 --secret token=HUBITAT_TOKEN
    manage.py connector change --studio S hub1 [--setting K=V] [--unset-setting K] \\
        [--secret K=ENV] [--mode M] [--enable | --disable]
    manage.py connector remove --studio S hub1
    manage.py connector list [--studio S]
    manage.py connector check --studio S hub1        # health (exit 1 when down)
    manage.py connector read --studio S hub1 [--query devices]   # normalized devices

Add, change and remove are audited governance services
(``governance.services.connector_configs``); the actor is ``--as USERNAME`` (an admin of
the studio) or, without it, the machine's operator (``system:cli:<login>``). The command
lives in governance, not connectors, because connectors never import governance.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog
from django.core.management.base import CommandParser

from brain.cli import Failed, UsageError
from brain.models import Studio
from connectors.models import ConnectorConfig, DeviceReading
from connectors.runtime import build_connector
from connectors.sdk.base import CallContext
from connectors.sdk.errors import ConfigurationError, ConnectorError
from connectors.sdk.registry import kinds
from connectors.sdk.schemas import Availability, ReadQuery
from connectors.services import connector_poll, device_readings_store
from governance.cli import GovernanceCommand, actor_from
from governance.services.connector_configs import (
    connector_config_add,
    connector_config_change,
    connector_config_remove,
)


def connector_json(config: ConnectorConfig) -> dict[str, Any]:
    return {
        "studio": config.studio.slug,
        "name": config.name,
        "kind": config.kind,
        "mode": config.mode,
        "enabled": config.enabled,
        "settings": config.settings,
        "secret_env": config.secret_env,
    }


def connector_line(config: ConnectorConfig) -> str:
    secrets = ",".join(f"{k}=${v}" for k, v in sorted(config.secret_env.items()))
    state = "enabled" if config.enabled else "disabled"
    return "\t".join([config.studio.slug, config.name, config.kind, config.mode, state, secrets])


def _invalid(error: ConfigurationError) -> UsageError:
    return UsageError("invalid connector: " + "; ".join(f"{f}: {why}" for f, why in error.errors))


def _pairs(values: list[str], flag: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        parsed[key.strip()] = raw
    return parsed


def _setting_values(pairs: dict[str, Any]) -> dict[str, Any]:
    """Values are JSON when they parse as JSON (numbers, lists of devices), else text."""
    values: dict[str, Any] = {}
    for key, raw in pairs.items():
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


class Command(GovernanceCommand):
    help = (
        "Add, change, remove, list, check and read connectors (Firestore, Stripe, Hubitat, "
        "Roborock) of a studio."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="configure a connector")
        add.add_argument("--studio", required=True)
        add.add_argument("--kind", required=True, help="one of: " + ", ".join(kinds()))
        add.add_argument("--name", required=True)
        add.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE")
        add.add_argument(
            "--secret",
            action="append",
            default=[],
            metavar="KEY=ENV_VAR",
            help="the environment variable (or ENV_VAR_FILE) holding a secret",
        )
        add.add_argument(
            "--mode", default=ConnectorConfig.Mode.READ_ONLY, choices=ConnectorConfig.Mode.values
        )
        add.add_argument("--disabled", action="store_true")
        change = sub.add_parser("change", help="change a connector's settings, mode or state")
        change.add_argument("--studio", required=True)
        change.add_argument("name")
        change.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE")
        change.add_argument("--unset-setting", action="append", default=[], metavar="KEY")
        change.add_argument("--secret", action="append", default=[], metavar="KEY=ENV_VAR")
        change.add_argument("--mode", default=None, choices=ConnectorConfig.Mode.values)
        state = change.add_mutually_exclusive_group()
        state.add_argument("--enable", dest="enabled", action="store_true", default=None)
        state.add_argument("--disable", dest="enabled", action="store_false")
        remove = sub.add_parser("remove", help="remove a connector (not one with executions)")
        remove.add_argument("--studio", required=True)
        remove.add_argument("name")
        for command in (add, change, remove):
            command.add_argument(
                "--as",
                dest="actor",
                default=None,
                help="USERNAME of an admin of the studio (default: system:cli:<your login>)",
            )
        listing = sub.add_parser("list", help="list connectors")
        listing.add_argument("--studio")
        for name, text in (
            ("check", "health as JSON (also recorded)"),
            ("read", "devices as normalized JSON"),
        ):
            cmd = sub.add_parser(name, help=text)
            cmd.add_argument("--studio", required=True)
            cmd.add_argument("name")
            if name == "read":
                cmd.add_argument(
                    "--query", default="devices", help="resource to read (default: devices)"
                )
                cmd.add_argument(
                    "--device", action="append", default=[], help="only these device ids"
                )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        # A CLI run is its own request: give its connector calls and log lines one id.
        if not structlog.contextvars.get_contextvars().get("request_id"):
            structlog.contextvars.bind_contextvars(request_id=f"cli-{uuid.uuid4().hex}")
        getattr(self, f"_{action}")(**options)

    def _studio(self, slug: str) -> Studio:
        studio = Studio.objects.filter(slug=slug).first()
        if studio is None:
            raise UsageError(f"no studio {slug!r}; see `manage.py studio list`")
        return studio

    def _config(self, slug: str, name: str) -> ConnectorConfig:
        studio = self._studio(slug)
        config = ConnectorConfig.objects.filter(studio=studio, name=name).first()
        if config is None:
            raise UsageError(
                f"no connector {name!r} in studio {slug!r}; see `manage.py connector list`"
            )
        return config

    def _add(self, **options: Any) -> None:
        studio = self._studio(options["studio"])
        try:
            config = connector_config_add(
                actor=actor_from(options["actor"]),
                studio=studio,
                kind=options["kind"],
                name=options["name"],
                settings=_setting_values(_pairs(options["setting"], "--setting")),
                secret_env=_pairs(options["secret"], "--secret"),
                enabled=not options["disabled"],
                mode=options["mode"],
            )
        except ConfigurationError as error:
            raise _invalid(error) from None
        self.emit(
            connector_json(config),
            self.style.SUCCESS(
                f"added {config.kind} connector {config.name} to {studio.slug} "
                f"({config.get_mode_display()})"
            ),
        )

    def _change(self, **options: Any) -> None:
        config = self._config(options["studio"], options["name"])
        try:
            changed = connector_config_change(
                actor=actor_from(options["actor"]),
                config_id=config.pk,
                settings=_setting_values(_pairs(options["setting"], "--setting")),
                unset_settings=tuple(options["unset_setting"]),
                secret_env=_pairs(options["secret"], "--secret"),
                enabled=options["enabled"],
                mode=options["mode"],
            )
        except ConfigurationError as error:
            raise _invalid(error) from None
        self.emit(
            connector_json(changed),
            self.style.SUCCESS(f"changed connector {changed.name}: {connector_line(changed)}"),
        )

    def _remove(self, **options: Any) -> None:
        config = self._config(options["studio"], options["name"])
        removed = connector_config_remove(actor=actor_from(options["actor"]), config_id=config.pk)
        self.emit(
            {**connector_json(removed), "removed": True},
            self.style.SUCCESS(f"removed connector {removed.name} from {removed.studio.slug}"),
        )

    def _list(self, **options: Any) -> None:
        configs = ConnectorConfig.objects.select_related("studio").order_by("studio__slug", "name")
        if options.get("studio"):
            configs = configs.filter(studio__slug=options["studio"])
        rows = list(configs)
        self.emit(
            {"connectors": [connector_json(config) for config in rows]},
            [connector_line(config) for config in rows],
        )

    def _check(self, **options: Any) -> None:
        config = self._config(options["studio"], options["name"])
        outcome = connector_poll(config=config, context=CallContext.current())
        sample = outcome.health
        report = {
            "connector": config.name,
            "kind": config.kind,
            "availability": sample.availability,
            "latency_ms": sample.latency_ms,
            "detail": sample.detail,
            "devices_total": sample.devices_total,
            "devices_reachable": sample.devices_reachable,
            "request_id": sample.request_id or None,
            "error": {
                "code": sample.error_code,
                "message": sample.error_message,
                "diagnostic": sample.diagnostic,
            }
            if sample.error_code
            else None,
        }
        lines = [
            f"{config.name} ({config.kind}): {sample.availability}, {sample.latency_ms:.0f} ms"
            + (
                f", devices {sample.devices_reachable}/{sample.devices_total}"
                if sample.devices_total
                else ""
            )
        ]
        if sample.detail:
            lines.append(f"  {sample.detail}")
        if sample.error_code:
            lines.append(f"  error {sample.error_code}: {sample.error_message}")
        self.emit(report, lines)
        if sample.availability == Availability.DOWN:
            raise Failed(f"connector {config.name} is down: {sample.error_code or sample.detail}")

    def _read(self, **options: Any) -> None:
        config = self._config(options["studio"], options["name"])
        try:
            connector = build_connector(config)
        except ConfigurationError as error:
            raise UsageError(f"connector {config.name} is misconfigured: {error}") from None
        try:
            result = connector.read(
                ReadQuery(resource=options["query"], device_ids=tuple(options["device"]))
            )
        except ConnectorError as error:
            self.emit({"error": error.as_json()})
            raise Failed(json.dumps({"error": error.as_json()})) from None
        finally:
            connector.close()
        device_readings_store(config=config, result=result)
        seen = {r.device_id: r.last_seen for r in DeviceReading.objects.filter(config=config)}
        payload = result.model_dump(mode="json")
        for device in payload["devices"]:
            last_seen = seen.get(device["id"])
            device["last_seen"] = last_seen.isoformat() if last_seen else None
        self.emit(
            payload,
            [
                f"{device['id']}\t{device['label']}\t{device['type']}\t"
                f"{'online' if device['online'] else 'offline'}\t"
                f"last seen {device['last_seen'] or 'never'}"
                for device in payload["devices"]
            ],
        )
