from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from brain.cli import BrainCommand
from brain.config import env_example_lines


class Command(BrainCommand):
    help = "Show the effective configuration (secrets as [set]/[unset]) or print .env.example."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show", help="the effective configuration, with where each value came from")
        sub.add_parser("example", help="the .env.example file generated from the contract")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "example":
            text = "\n".join(env_example_lines()).rstrip() + "\n"
            if self.as_json:
                self.emit({"env_example": text})
            else:
                self.stdout.write(text, ending="")
            return
        rows = settings.BRAIN.describe()
        width = max(len(name) for name, _, _ in rows)
        self.emit(
            {
                "settings": [
                    {"name": name, "value": shown, "source": source} for name, shown, source in rows
                ]
            },
            [f"{name.ljust(width)}  {shown}  ({source})" for name, shown, source in rows],
        )
