"""Operator CLI: add, list, check and read connectors of a studio.

    manage.py connector add --studio S --kind hubitat --name hub1 \\
        --setting host=http://192.168.1.20 --setting app_id=12 --secret token=HUBITAT_TOKEN
    manage.py connector list [--studio S]
    manage.py connector check --studio S hub1        # health as JSON
    manage.py connector read --studio S hub1 [--query devices]   # normalized JSON
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Model

from connectors.models import ConnectorConfig, DeviceReading
from connectors.runtime import build_connector
from connectors.sdk.base import CallContext
from connectors.sdk.errors import ConfigurationError, ConnectorError
from connectors.sdk.registry import kinds
from connectors.sdk.schemas import ReadQuery
from connectors.services import connector_config_create, connector_poll, device_readings_store


def _studio_model() -> type[Model]:
    # connectors never import brain: reach the Studio model through our own foreign key.
    return ConnectorConfig._meta.get_field("studio").related_model


def _pairs(values: list[str], flag: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"{flag} {item!r}: expected KEY=VALUE")
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


class Command(BaseCommand):
    help = (
        "Add, list, check and read connectors (Firestore, Stripe, Hubitat, Roborock) of a studio."
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

    def _studio(self, slug: str) -> Any:
        studio = _studio_model()._default_manager.filter(slug=slug).first()
        if studio is None:
            raise CommandError(f"no studio {slug!r}; see `manage.py studio list`")
        return studio

    def _config(self, slug: str, name: str) -> ConnectorConfig:
        studio = self._studio(slug)
        config = ConnectorConfig.objects.filter(studio=studio, name=name).first()
        if config is None:
            raise CommandError(
                f"no connector {name!r} in studio {slug!r}; see `manage.py connector list`"
            )
        return config

    def _add(self, **options: Any) -> None:
        studio = self._studio(options["studio"])
        try:
            config = connector_config_create(
                studio_id=studio.pk,
                kind=options["kind"],
                name=options["name"],
                settings=_setting_values(_pairs(options["setting"], "--setting")),
                secret_env=_pairs(options["secret"], "--secret"),
                enabled=not options["disabled"],
                mode=options["mode"],
            )
        except ConfigurationError as error:
            raise CommandError(
                "invalid connector: " + "; ".join(f"{f}: {why}" for f, why in error.errors)
            ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"added {config.kind} connector {config.name} to {studio.slug} "
                f"({config.get_mode_display()})"
            )
        )

    def _list(self, **options: Any) -> None:
        configs = ConnectorConfig.objects.select_related("studio").order_by("studio__slug", "name")
        if options.get("studio"):
            configs = configs.filter(studio__slug=options["studio"])
        for config in configs:
            secrets = ",".join(f"{k}=${v}" for k, v in sorted(config.secret_env.items()))
            self.stdout.write(
                "\t".join(
                    [
                        config.studio.slug,
                        config.name,
                        config.kind,
                        config.mode,
                        "enabled" if config.enabled else "disabled",
                        secrets,
                    ]
                )
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
        self.stdout.write(json.dumps(report, indent=2))

    def _read(self, **options: Any) -> None:
        config = self._config(options["studio"], options["name"])
        try:
            connector = build_connector(config)
        except ConfigurationError as error:
            raise CommandError(f"connector {config.name} is misconfigured: {error}") from None
        try:
            result = connector.read(
                ReadQuery(resource=options["query"], device_ids=tuple(options["device"]))
            )
        except ConnectorError as error:
            raise CommandError(json.dumps({"error": error.as_json()})) from None
        finally:
            connector.close()
        device_readings_store(config=config, result=result)
        seen = {r.device_id: r.last_seen for r in DeviceReading.objects.filter(config=config)}
        payload = result.model_dump(mode="json")
        for device in payload["devices"]:
            last_seen = seen.get(device["id"])
            device["last_seen"] = last_seen.isoformat() if last_seen else None
        self.stdout.write(json.dumps(payload, indent=2))
