"""`manage.py kill_switch on|off --global|--capability ID --as USER --reason TEXT`, and `list`.

`on` stops executions at once (the gateway denies BLOCKED_BY_POLICY; a worker about to write
stops too). `off` needs an admin. Output is JSON; a denial exits non-zero naming the code.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.errors import Denied
from governance.management.commands.proposal import actor_from
from governance.models import KillSwitch
from governance.selectors import kill_switch_list
from governance.services.kill_switches import kill_switch_engage, kill_switch_release


def switch_json(switch: KillSwitch) -> dict[str, Any]:
    return {
        "scope": switch.scope,
        "capability": switch.capability_id or None,
        "engaged": switch.engaged,
        "reason": switch.reason,
        "engaged_by": switch.engaged_by.get_username() if switch.engaged_by else None,
        "engaged_at": switch.engaged_at.isoformat() if switch.engaged_at else None,
        "released_by": switch.released_by.get_username() if switch.released_by else None,
        "released_at": switch.released_at.isoformat() if switch.released_at else None,
    }


class Command(BaseCommand):
    help = "Engage, release or list the kill switches that stop executions."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for verb, text in (("on", "engage a kill switch"), ("off", "release it (admin)")):
            command = sub.add_parser(verb, help=text)
            where = command.add_mutually_exclusive_group(required=True)
            where.add_argument("--global", dest="all", action="store_true", help="every capability")
            where.add_argument("--capability", help="one capability id")
            command.add_argument("--as", dest="actor", required=True, help="USERNAME")
            command.add_argument("--reason", required=True)
        sub.add_parser("list", help="every kill switch as JSON lines")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            for switch in kill_switch_list():
                self.stdout.write(json.dumps(switch_json(switch), sort_keys=True))
            return
        service = kill_switch_engage if action == "on" else kill_switch_release
        try:
            switch = service(
                actor=actor_from(options["actor"]),
                reason=options["reason"],
                capability_id=None if options["all"] else options["capability"],
            )
        except Denied as denial:
            raise CommandError(f"denied {denial.code}: {denial.message}") from None
        self.stdout.write(json.dumps(switch_json(switch), sort_keys=True))
