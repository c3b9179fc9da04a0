from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandParser

from brain.cli import BrainCommand, Failed, UsageError
from brain.models import Studio
from governance.audit import chain_ids, chain_length, verify_chain


class Command(BrainCommand):
    help = "Walk the audit hash chain(s), naming the first broken link. Exit 0 if intact, else 1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--studio", help="studio slug (default: every chain, the global one included)"
        )

    def handle(self, *args: Any, studio: str | None = None, **options: Any) -> None:
        if studio:
            found = Studio.objects.filter(slug=studio).values_list("pk", flat=True).first()
            if found is None:
                raise UsageError(f"no studio {studio!r}")
            targets: list[int | None] = [found]
        else:
            targets = chain_ids()
        slugs = dict(Studio.objects.values_list("pk", "slug"))
        chains: list[dict[str, Any]] = []
        lines: list[str] = []
        total = sum(chain_length(studio_id) for studio_id in targets)
        with self.progress(total=total, desc="verify audit", unit="event") as bar:
            for studio_id in targets:
                name = slugs.get(studio_id, "global") if studio_id is not None else "global"
                bar.set_postfix_str(name)
                started = time.perf_counter()
                report = verify_chain(studio_id, progress=bar.update)
                elapsed = time.perf_counter() - started
                chains.append(
                    {
                        "chain": name,
                        "ok": report.ok,
                        "events": report.count,
                        "head_sequence": report.head_sequence,
                        "head_hash": report.head_hash,
                        "bad_sequence": report.bad_sequence,
                        "problem": report.problem or None,
                        "seconds": round(elapsed, 3),
                    }
                )
                if report.ok:
                    rate = (
                        f", {report.count / elapsed:,.0f} events/s"
                        if report.count and elapsed > 0
                        else ""
                    )
                    lines.append(f"ok {name}: {report.count} events, head {report.head_hash}{rate}")
                else:
                    lines.append(
                        f"BROKEN {name}: first bad sequence {report.bad_sequence}: {report.problem}"
                    )
        ok = all(chain["ok"] for chain in chains)
        self.emit({"ok": ok, "chains": chains}, lines)
        if not ok:
            raise Failed("audit chain verification failed")
