from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from brain.cli import BrainCommand, CollectionProgress, UsageError
from brain.models import Studio
from brain.services.snapshots import SnapshotError, rebuild_plan, source_for, studio_rebuild


class Command(BrainCommand):
    help = (
        "Drop all derived state of a studio (mirror, snapshots, diffs, drift findings, device readings; "
        "never audit history) and recompute it from cloud reads. Dry-run unless --confirm."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--studio", required=True)
        parser.add_argument("--source", choices=["demo", "cloud"])
        parser.add_argument("--confirm", action="store_true", help="actually drop and recompute")

    def handle(
        self, *args: Any, studio: str, source: str | None, confirm: bool, **options: Any
    ) -> None:
        row = Studio.objects.filter(slug=studio).first()
        if row is None:
            raise UsageError(f"no studio {studio!r}")
        plan = rebuild_plan(row)
        dropped = {
            "records": plan.records,
            "snapshots": plan.snapshots,
            "diffs": plan.diffs,
            "drift_findings": plan.drift_findings,
            "device_readings": plan.device_readings,
        }
        lines = [
            f"would drop {plan.records} mirrored records, {plan.snapshots} snapshots, {plan.diffs} diffs, "
            f"{plan.drift_findings} drift findings, {plan.device_readings} device readings; "
            "audit history is kept"
        ]
        report: dict[str, Any] = {
            "studio": row.slug,
            "dry_run": not confirm,
            "drops": dropped,
            "previous_hash": plan.latest_hash,
        }
        if not confirm:
            lines.append("dry run: nothing changed (add --confirm to rebuild)")
            self.emit(report, lines)
            return
        try:
            cloud = source_for(row, source)
            with CollectionProgress(self, plan.records_by_collection) as progress:
                plan, snapshot = studio_rebuild(studio=row, source=cloud, progress=progress)
        except (SnapshotError, FileNotFoundError) as error:
            raise UsageError(str(error)) from None
        same = plan.latest_hash == snapshot.content_hash
        report.update(
            rebuilt_hash=snapshot.content_hash, same=same, completeness=snapshot.completeness
        )
        lines.append(
            f"rebuilt snapshot {snapshot.content_hash[:12]} ({snapshot.completeness}); before: "
            f"{(plan.latest_hash or 'none')[:12]}"
        )
        lines.append(
            "rebuilt snapshot hash EQUALS the one before"
            if same
            else "rebuilt snapshot hash DIFFERS from the one before (cloud data changed, or none before)"
        )
        self.emit(report, lines)
