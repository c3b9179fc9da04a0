from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.models import Snapshot, Studio
from brain.services.snapshots import SnapshotError, snapshot_capture, source_for


class Command(BaseCommand):
    help = "Capture a StudioState snapshot now and print its summary as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--studio", required=True)
        parser.add_argument(
            "--source", choices=["demo", "cloud"], help="default: demo in demo mode, else cloud"
        )
        parser.add_argument(
            "--daily", action="store_true", help="take today's daily snapshot (once per day)"
        )

    def handle(
        self, *args: Any, studio: str, source: str | None, daily: bool, **options: Any
    ) -> None:
        row = Studio.objects.filter(slug=studio).first()
        if row is None:
            raise CommandError(f"no studio {studio!r}")
        try:
            result = snapshot_capture(
                studio=row,
                source=source_for(row, source),
                kind=Snapshot.Kind.DAILY if daily else Snapshot.Kind.CAPTURE,
            )
        except (SnapshotError, FileNotFoundError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            json.dumps(summary(result.snapshot, created=result.created), sort_keys=True)
        )


def summary(snapshot: Snapshot, *, created: bool = True) -> dict[str, Any]:
    content = snapshot.content
    return {
        "snapshot_date": snapshot.snapshot_date.isoformat(),
        "kind": snapshot.kind,
        "created": created,
        "content_hash": snapshot.content_hash,
        "completeness": snapshot.completeness,
        "counts": content["counts"],
        "ops": content["ops"],
        "finance": content["finance"],
        "warnings": content["diagnostics"]["warnings"],
        "durations_ms": snapshot.durations_ms,
        "data_source": snapshot.data_source,
    }
