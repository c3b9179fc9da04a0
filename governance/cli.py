"""What governance's management commands share: who acts (``--as``) and how a denial ends
a run (exit 1, its JSON on stdout with ``--json``). See brain/cli.py and docs/cli.md."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model

from brain.cli import BrainCommand, Failed, UsageError, json_document
from brain.services.studios import StudioError
from governance.actors import Actor
from governance.errors import Denied, ProposalNotFound
from governance.services.memberships import MembershipNotFound


def cli_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def actor_from(value: str | None) -> Actor:
    """``--as``: ``USERNAME`` (staff), ``agent:ID`` or ``system:NAME``. Without it (commands
    where it is optional) the actor is the machine's operator, ``system:cli:<login>``."""
    if not value:
        return Actor.system(f"cli:{cli_login()}")
    kind, sep, ident = value.partition(":")
    if sep and kind == "agent":
        return Actor.agent(ident)
    if sep and kind == "system":
        return Actor.system(ident)
    user = get_user_model().objects.filter(username=value, is_active=True).first()
    if user is None:
        raise UsageError(f"no active user {value!r} (use a username, agent:ID or system:NAME)")
    return Actor.staff(user)


class GovernanceCommand(BrainCommand):
    """A denial exits 1 (``denied CODE: message`` on stderr; with ``--json`` the denial is the
    one document on stdout unless the command printed its own); a missing object exits 2."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except Denied as denial:
            if self.as_json and not self.emitted:
                self.stdout.write(json_document(denial.as_json()))
            raise Failed(f"denied {denial.code}: {denial.message}") from None
        except (ProposalNotFound, MembershipNotFound, StudioError) as error:
            raise UsageError(str(error)) from None
