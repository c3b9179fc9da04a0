from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.models import Studio
from governance.audit import chain_ids, verify_chain


class Command(BaseCommand):
    help = "Walk the audit hash chain(s), naming the first broken link. Exit 0 if intact, else 1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--studio", help="studio slug (default: every chain, the global one included)"
        )

    def handle(self, *args: Any, studio: str | None = None, **options: Any) -> None:
        if studio:
            found = Studio.objects.filter(slug=studio).values_list("pk", flat=True).first()
            if found is None:
                raise CommandError(f"no studio {studio!r}")
            targets: list[int | None] = [found]
        else:
            targets = chain_ids()
        slugs = dict(Studio.objects.values_list("pk", "slug"))
        broken = False
        for studio_id in targets:
            started = time.perf_counter()
            report = verify_chain(studio_id)
            elapsed = time.perf_counter() - started
            name = slugs.get(studio_id, "global") if studio_id is not None else "global"
            if report.ok:
                rate = (
                    f", {report.count / elapsed:,.0f} events/s"
                    if report.count and elapsed > 0
                    else ""
                )
                self.stdout.write(
                    f"ok {name}: {report.count} events, head {report.head_hash}{rate}"
                )
            else:
                broken = True
                self.stdout.write(
                    f"BROKEN {name}: first bad sequence {report.bad_sequence}: {report.problem}"
                )
        if broken:
            raise CommandError("audit chain verification failed", returncode=1)
