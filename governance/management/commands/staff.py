"""``manage.py staff add|list|role|remove``: a studio's staff and their roles.

Every change is an audited governance service (``governance.services.memberships``); the
actor is ``--as USERNAME`` (an admin of the studio) or, without it, the machine's operator
(``system:cli:<login>``).
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandParser

from brain.cli import UsageError
from brain.models import Membership, Role, Studio
from governance.cli import GovernanceCommand, actor_from
from governance.services.memberships import (
    membership_add,
    membership_remove,
    membership_role_change,
)


def membership_json(membership: Membership) -> dict[str, Any]:
    return {
        "studio": membership.studio.slug,
        "username": membership.user.get_username(),
        "email": membership.user.email,
        "role": membership.get_role_display(),
        "active": membership.user.is_active,
        "since": membership.created_at,
    }


class Command(GovernanceCommand):
    help = (
        "Add, list, re-role or remove the staff of a studio (viewer < operator < approver < admin)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        roles = [role.label for role in Role]
        add = sub.add_parser("add", help="add a staff member (or re-role an existing one)")
        add.add_argument("--studio", required=True)
        add.add_argument("--role", required=True, choices=roles)
        add.add_argument("--username", required=True)
        add.add_argument("--email", default="")
        add.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the new user's password from standard input instead of generating one",
        )
        listing = sub.add_parser("list", help="a studio's staff and their roles")
        listing.add_argument("--studio", required=True)
        role = sub.add_parser("role", help="change a staff member's role")
        role.add_argument("--studio", required=True)
        role.add_argument("--username", required=True)
        role.add_argument("--role", required=True, choices=roles)
        remove = sub.add_parser("remove", help="remove a staff member from a studio")
        remove.add_argument("--studio", required=True)
        remove.add_argument("--username", required=True)
        for command in (add, role, remove):
            command.add_argument(
                "--as",
                dest="actor",
                default=None,
                help="USERNAME of an admin of the studio (default: system:cli:<your login>)",
            )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _add(self, **options: Any) -> None:
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise UsageError("--password-stdin given but standard input was empty")
        added = membership_add(
            actor=actor_from(options["actor"]),
            studio_slug=options["studio"],
            username=options["username"],
            role=options["role"],
            email=options["email"],
            password=password,
        )
        membership = added.membership
        username = membership.user.get_username()
        lines = [
            self.style.SUCCESS(
                f"{username} is {membership.get_role_display()} of {membership.studio.slug}"
            )
        ]
        if added.generated_password:
            lines.append(
                f"one-time password (shown once, not stored in clear): {added.generated_password}"
            )
        elif not added.created_user:
            lines.append("existing user: password unchanged")
        self.emit(
            {
                **membership_json(membership),
                "created_user": added.created_user,
                "changed": added.changed,
                "generated_password": added.generated_password,
            },
            lines,
        )

    def _list(self, **options: Any) -> None:
        studio = Studio.objects.filter(slug=options["studio"]).first()
        if studio is None:
            raise UsageError(f"no studio {options['studio']!r}")
        members = [
            membership_json(membership)
            for membership in Membership.objects.filter(studio=studio)
            .select_related("user", "studio")
            .order_by("-role", "user__username")
        ]
        self.emit(
            {"studio": studio.slug, "staff": members},
            [
                f"{m['username']}\t{m['role']}\t{m['email']}"
                + ("" if m["active"] else "\t(inactive)")
                for m in members
            ],
        )

    def _role(self, **options: Any) -> None:
        membership = membership_role_change(
            actor=actor_from(options["actor"]),
            studio_slug=options["studio"],
            username=options["username"],
            role=options["role"],
        )
        self.emit(
            membership_json(membership),
            self.style.SUCCESS(
                f"{membership.user.get_username()} is now {membership.get_role_display()} "
                f"of {membership.studio.slug}"
            ),
        )

    def _remove(self, **options: Any) -> None:
        membership = membership_remove(
            actor=actor_from(options["actor"]),
            studio_slug=options["studio"],
            username=options["username"],
        )
        self.emit(
            {**membership_json(membership), "removed": True},
            self.style.SUCCESS(
                f"{membership.user.get_username()} removed from {membership.studio.slug}"
            ),
        )
