from __future__ import annotations

from typing import Any

from brain.cli import BrainCommand, Failed
from brain.models import JobRun
from governance.tasks import audit_digest_job


class Command(BrainCommand):
    help = "Sign today's head of every audit chain with BRAIN_AUDIT_SIGNING_KEY (the daily job)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = audit_digest_job()
        except Exception as error:
            raise Failed(f"audit digest failed: {error}") from None
        if run.status != JobRun.Status.SUCCEEDED:
            self.emit({"status": run.status, "summary": run.summary, "error": run.error})
            raise Failed(f"audit digest {run.status}: {run.summary or run.error}")
        digests = run.summary.get("digests", [])
        self.emit(
            {"status": run.status, "digests": digests},
            [f"signed {len(digests)} chain head(s)"]
            + [
                f"  chain {digest['chain'] or 'global'} {digest['day']} @ {digest['sequence']}"
                for digest in digests
            ],
        )
