from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from brain.cli import BrainCommand, UsageError
from brain.models import Studio
from brain.services.studios import StudioError, studio_create


def studio_json(studio: Studio) -> dict[str, Any]:
    return {"slug": studio.slug, "name": studio.name, "timezone": studio.timezone}


class Command(BrainCommand):
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
            studios = [studio_json(studio) for studio in Studio.objects.order_by("slug")]
            self.emit(
                {"studios": studios},
                [f"{s['slug']}\t{s['name']}\t{s['timezone']}" for s in studios],
            )
            return
        try:
            studio = studio_create(
                slug=options["slug"], name=options["name"], timezone=options["timezone"]
            )
        except StudioError as error:
            raise UsageError(str(error)) from None
        self.emit(
            studio_json(studio),
            self.style.SUCCESS(f"created studio {studio.slug} ({studio.name}, {studio.timezone})"),
        )
