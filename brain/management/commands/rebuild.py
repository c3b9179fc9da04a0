from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.models import Studio
from brain.services.snapshots import SnapshotError, rebuild_plan, source_for, studio_rebuild


class Command(BaseCommand):
    help = (
        "Drop all derived state of a studio (mirror, snapshots, diffs, drift findings, device readings; "
        "never audit history) and recompute it from cloud reads. Dry-run unless --confirm."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--studio", required=True)
        parser.add_argument("--source", choices=["demo", "cloud"])
        parser.add_argument("--confirm", action="store_true", help="actually drop and recompute")

    expected: dict[str, int]

    def handle(
        self, *args: Any, studio: str, source: str | None, confirm: bool, **options: Any
    ) -> None:
        row = Studio.objects.filter(slug=studio).first()
        if row is None:
            raise CommandError(f"no studio {studio!r}")
        plan = rebuild_plan(row)
        self.stdout.write(
            f"would drop {plan.records} mirrored records, {plan.snapshots} snapshots, {plan.diffs} diffs, "
            f"{plan.drift_findings} drift findings, {plan.device_readings} device readings; "
            "audit history is kept"
        )
        if not confirm:
            self.stdout.write("dry run: nothing changed (add --confirm to rebuild)")
            return
        self.expected = plan.records_by_collection
        try:
            cloud = source_for(row, source)
            plan, snapshot = studio_rebuild(studio=row, source=cloud, progress=self._progress)
        except (SnapshotError, FileNotFoundError) as error:
            raise CommandError(str(error)) from None
        same = plan.latest_hash == snapshot.content_hash
        self.stdout.write(
            json.dumps(
                {
                    "previous_hash": plan.latest_hash,
                    "rebuilt_hash": snapshot.content_hash,
                    "same": same,
                    "completeness": snapshot.completeness,
                },
                sort_keys=True,
            )
        )
        self.stdout.write(
            "rebuilt snapshot hash EQUALS the one before"
            if same
            else "rebuilt snapshot hash DIFFERS from the one before (cloud data changed, or none before)"
        )

    def _progress(self, source: str, collection: str, count: int, done: bool) -> None:
        """One bar per collection, sized by what the mirror held before the rebuild."""
        name = f"{source}:{collection}"
        expected = self.expected.get(name, 0)
        width = 24
        filled = width if done else (min(width, round(width * count / expected)) if expected else 0)
        bar = "#" * filled + "." * (width - filled)
        line = f"  {name:<34} [{bar}] {count:>7}{'' if not expected else f' / {expected}'}"
        if self.stderr.isatty():
            self.stderr.write("\r" + line, ending="\n" if done else "")
        elif done:
            self.stderr.write(line)
        self.stderr.flush()
