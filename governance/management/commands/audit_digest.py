from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from brain.models import JobRun
from governance.tasks import audit_digest_job


class Command(BaseCommand):
    help = "Sign today's head of every audit chain with BRAIN_AUDIT_SIGNING_KEY (the daily job)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = audit_digest_job()
        except Exception as error:
            raise CommandError(f"audit digest failed: {error}") from None
        if run.status != JobRun.Status.SUCCEEDED:
            raise CommandError(f"audit digest {run.status}: {run.summary or run.error}")
        digests = run.summary.get("digests", [])
        self.stdout.write(f"signed {len(digests)} chain head(s)")
        for digest in digests:
            self.stdout.write(
                f"  chain {digest['chain'] or 'global'} {digest['day']} @ {digest['sequence']}"
            )
