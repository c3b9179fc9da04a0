"""`manage.py kill_switch on|off|confirm SCOPE --as USER --reason TEXT`, and `list`.

SCOPE is `--global`, `--studio SLUG`, `--capability ID` or `--connector NAME --studio SLUG`.
`on` stops executions at once (the gateway denies BLOCKED_BY_POLICY; a worker about to write
stops too). `off` asks for the release (an admin) and `confirm` releases it (a second
admin). Output is JSON; a denial exits non-zero naming the code.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.models import Studio
from connectors.models import ConnectorConfig
from governance.errors import Denied
from governance.management.commands.proposal import actor_from
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


class Command(BaseCommand):
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
        sub.add_parser("list", help="every kill switch as JSON lines")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            for switch in kill_switch_list():
                self.stdout.write(json.dumps(switch_json(switch), sort_keys=True))
            return
        target = self._target(options)
        actor = actor_from(options["actor"])
        try:
            if action == "on":
                switch_id = kill_switch_engage(actor=actor, reason=options["reason"], **target).pk
            elif action == "off":
                event = kill_switch_release_request(actor=actor, reason=options["reason"], **target)
                switch_id = event.switch_id
            else:
                event = kill_switch_release_confirm(actor=actor, reason=options["reason"], **target)
                switch_id = event.switch_id
        except Denied as denial:
            raise CommandError(f"denied {denial.code}: {denial.message}") from None
        [switch] = [row for row in kill_switch_list() if row.pk == switch_id]
        self.stdout.write(json.dumps(switch_json(switch), sort_keys=True))

    def _target(self, options: dict[str, Any]) -> dict[str, Any]:
        studio = None
        if options["studio"]:
            studio = Studio.objects.filter(slug=options["studio"]).first()
            if studio is None:
                raise CommandError(f"no studio {options['studio']!r}")
        if options["connector"]:
            if studio is None:
                raise CommandError("--connector needs --studio SLUG (connectors are per studio)")
            connector = ConnectorConfig.objects.filter(
                studio=studio, name=options["connector"]
            ).first()
            if connector is None:
                raise CommandError(f"no connector {options['connector']!r} in {studio.slug}")
            return {"connector": connector}
        if options["capability"]:
            return {"capability_id": options["capability"]}
        if studio is not None and not options["all"]:
            return {"studio": studio}
        if options["all"]:
            return {}
        raise CommandError("name a scope: --global, --studio, --capability or --connector")
