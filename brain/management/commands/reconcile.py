from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.models import Studio
from brain.services.reconciliation import reconciliation_run


class Command(BaseCommand):
    help = (
        "Reconcile the studio's mirrored orders against its mirrored Stripe objects now and "
        "print one JSON document: the run, its flags (with evidence) and the summary by class. "
        "Exits 0 whatever it finds; logs go to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--studio", required=True)
        parser.add_argument(
            "--json",
            action="store_true",
            help="compact JSON on one line (default: indented); the document is the same",
        )

    def handle(self, *args: Any, studio: str, json: bool, **options: Any) -> None:
        row = Studio.objects.filter(slug=studio).first()
        if row is None:
            raise CommandError(f"no studio {studio!r}")
        outcome = reconciliation_run(studio=row)
        document = outcome.as_json()
        self.stdout.write(_dumps(document, compact=json))


def _dumps(document: dict[str, Any], *, compact: bool) -> str:
    if compact:
        return json.dumps(document, sort_keys=True, separators=(",", ":"))
    return json.dumps(document, sort_keys=True, indent=2)
