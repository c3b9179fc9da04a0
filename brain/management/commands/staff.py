from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.models import Role
from brain.services.studios import StudioError, staff_add


class Command(BaseCommand):
    help = "Add a staff member to a studio with a role (viewer < operator < approver < admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add or re-role a staff member")
        add.add_argument("--studio", required=True)
        add.add_argument("--role", required=True, choices=[role.label for role in Role])
        add.add_argument("--username", required=True)
        add.add_argument("--email", default="")
        add.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the new user's password from standard input instead of generating one",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("--password-stdin given but standard input was empty")
        try:
            added = staff_add(
                studio_slug=options["studio"],
                username=options["username"],
                role=options["role"],
                email=options["email"],
                password=password,
            )
        except StudioError as error:
            raise CommandError(str(error)) from None
        membership = added.membership
        username = membership.user.get_username()
        self.stdout.write(
            self.style.SUCCESS(
                f"{username} is {membership.get_role_display()} of {membership.studio.slug}"
            )
        )
        if added.generated_password:
            self.stdout.write(
                f"one-time password (shown once, not stored in clear): {added.generated_password}"
            )
        elif not added.created_user:
            self.stdout.write("existing user: password unchanged")
