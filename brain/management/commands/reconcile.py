from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from brain.cli import BrainCommand, UsageError
from brain.models import Studio
from brain.services.reconciliation import reconciliation_run


class Command(BrainCommand):
    help = (
        "Reconcile the studio's mirrored orders against its mirrored Stripe objects now: the run, "
        "its flags (with evidence) and the summary by class (--json: as one JSON object). "
        "Exits 0 whatever it finds; logs go to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--studio", required=True)

    def handle(self, *args: Any, studio: str, **options: Any) -> None:
        row = Studio.objects.filter(slug=studio).first()
        if row is None:
            raise UsageError(f"no studio {studio!r}")
        document = reconciliation_run(studio=row).as_json()
        self.emit(document, report_lines(document))


def report_lines(document: dict[str, Any]) -> list[str]:
    run = document["run"]
    lines = [f"run {run['id']} for {run['studio']}: {run['status']}"]
    if run["reason"]:
        lines.append(f"  {run['reason']}")
    if run["stripe_read_at"]:
        lines.append(f"  Stripe read at {run['stripe_read_at']}")
    lines += [f"  flag on the run: {flag}" for flag in run["run_flags"]]
    lines.append(f"  {run['orders_checked']} orders against {run['stripe_objects']} Stripe objects")
    for name, total in sorted(document["summary"].items()):
        if total["count"]:
            lines.append(f"  {name}: {total['count']} ({total['amount_cents']} cents at stake)")
    lines += [
        f"  {flag['order_id']}: {flag['class']} ({flag['confidence']})"
        for flag in document["flags"]
    ]
    return lines
