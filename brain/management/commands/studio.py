from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.models import Studio
from brain.services.studios import StudioError, studio_create


class Command(BaseCommand):
    help = "Create or list studios."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a studio")
        create.add_argument("slug", help="short id used in URLs, e.g. north-kiln")
        create.add_argument("--name", required=True)
        create.add_argument("--timezone", default="UTC", help="IANA zone, e.g. Europe/London")
        sub.add_parser("list", help="list studios")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            for studio in Studio.objects.order_by("slug"):
                self.stdout.write(f"{studio.slug}\t{studio.name}\t{studio.timezone}")
            return
        try:
            studio = studio_create(
                slug=options["slug"], name=options["name"], timezone=options["timezone"]
            )
        except StudioError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(f"created studio {studio.slug} ({studio.name}, {studio.timezone})")
        )
