"""`manage.py kill_switch on|off|confirm SCOPE --as USER --reason TEXT`, and `list`.

SCOPE is `--global`, `--studio SLUG`, `--capability ID` or `--connector NAME --studio SLUG`.
`on` stops executions at once (the gateway denies BLOCKED_BY_POLICY; a worker about to write
stops too). `off` asks for the release (an admin) and `confirm` releases it (a second
admin). Readable lines, or one JSON document with `--json`; a denial exits 1 naming the
code, a bad scope 2 (docs/cli.md).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from brain.cli import UsageError
from brain.models import Studio
from connectors.models import ConnectorConfig
from governance.cli import GovernanceCommand, actor_from
from governance.models import KillSwitch
from governance.selectors.execution import kill_switch_list
from governance.services.kill_switches import (
    kill_switch_engage,
    kill_switch_release_confirm,
    kill_switch_release_request,
)


def switch_json(switch: KillSwitch) -> dict[str, Any]:
    """A switch with the state its events give it (``kill_switch_list`` sets them)."""
    pending = getattr(switch, "pending_request", None)
    return {
        "scope": switch.scope,
        "label": switch.label,
        "capability": switch.capability_id or None,
        "studio": switch.studio.slug if switch.studio else None,
        "connector": switch.connector.name if switch.connector else None,
        "engaged": getattr(switch, "engaged", False),
        "engaged_by": getattr(switch, "engaged_label", None),
        "reason": getattr(switch, "engaged_reason", None),
        "release_requested_by": pending.actor_label if pending else None,
    }


def switch_line(switch: dict[str, Any]) -> str:
    state = f"ENGAGED by {switch['engaged_by']}: {switch['reason']}" if switch["engaged"] else "off"
    pending = (
        f" (release requested by {switch['release_requested_by']})"
        if switch["release_requested_by"]
        else ""
    )
    return f"{switch['label']}: {state}{pending}"


class Command(GovernanceCommand):
    help = "Engage, release (two admins) or list the kill switches that stop executions."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for verb, text in (
            ("on", "engage a kill switch"),
            ("off", "ask for its release (an admin)"),
            ("confirm", "confirm another admin's release request"),
        ):
            command = sub.add_parser(verb, help=text)
            where = command.add_mutually_exclusive_group()
            where.add_argument("--global", dest="all", action="store_true", help="everything")
            where.add_argument("--capability", help="one capability id, every studio")
            where.add_argument("--connector", help="one connector (with --studio)")
            command.add_argument("--studio", help="SLUG: the studio, or the connector's studio")
            command.add_argument("--as", dest="actor", required=True, help="USERNAME")
            command.add_argument("--reason", required=True)
        sub.add_parser("list", help="every kill switch and its state")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            switches = [switch_json(switch) for switch in kill_switch_list()]
            self.emit({"kill_switches": switches}, [switch_line(s) for s in switches])
            return
        target = self._target(options)
        actor = actor_from(options["actor"])
        if action == "on":
            switch_id = kill_switch_engage(actor=actor, reason=options["reason"], **target).pk
        elif action == "off":
            event = kill_switch_release_request(actor=actor, reason=options["reason"], **target)
            switch_id = event.switch_id
        else:
            event = kill_switch_release_confirm(actor=actor, reason=options["reason"], **target)
            switch_id = event.switch_id
        [switch] = [switch_json(row) for row in kill_switch_list() if row.pk == switch_id]
        self.emit(switch, switch_line(switch))

    def _target(self, options: dict[str, Any]) -> dict[str, Any]:
        studio = None
        if options["studio"]:
            studio = Studio.objects.filter(slug=options["studio"]).first()
            if studio is None:
                raise UsageError(f"no studio {options['studio']!r}")
        if options["connector"]:
            if studio is None:
                raise UsageError("--connector needs --studio SLUG (connectors are per studio)")
            connector = ConnectorConfig.objects.filter(
                studio=studio, name=options["connector"]
            ).first()
            if connector is None:
                raise UsageError(f"no connector {options['connector']!r} in {studio.slug}")
            return {"connector": connector}
        if options["capability"]:
            return {"capability_id": options["capability"]}
        if studio is not None and not options["all"]:
            return {"studio": studio}
        if options["all"]:
            return {}
        raise UsageError("name a scope: --global, --studio, --capability or --connector")
