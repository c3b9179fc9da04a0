from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from brain.cli import BrainCommand, CollectionProgress, UsageError
from brain.models import Snapshot, Studio
from brain.services.snapshots import SnapshotError, snapshot_capture, source_for


class Command(BrainCommand):
    help = "Capture a StudioState snapshot now and print its summary (--json: as one JSON object)."

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
            raise UsageError(f"no studio {studio!r}")
        try:
            with CollectionProgress(self) as progress:
                result = snapshot_capture(
                    studio=row,
                    source=source_for(row, source),
                    kind=Snapshot.Kind.DAILY if daily else Snapshot.Kind.CAPTURE,
                    progress=progress,
                )
        except (SnapshotError, FileNotFoundError) as error:
            raise UsageError(str(error)) from None
        report = summary(result.snapshot, created=result.created)
        self.emit(report, summary_lines(report))


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


def summary_lines(report: dict[str, Any]) -> list[str]:
    verb = "captured" if report["created"] else "already taken today:"
    lines = [
        f"{report['kind']} snapshot {verb} {report['content_hash'][:12]} for "
        f"{report['snapshot_date']} ({report['completeness']}, from {report['data_source']})",
        "counts: "
        + ", ".join(f"{name} {value}" for name, value in sorted(report["counts"].items())),
    ]
    lines += [f"warning: {warning}" for warning in report["warnings"]]
    return lines
