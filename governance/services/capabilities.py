"""Mirror the code's capability registry into the ``Capability`` table."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.capabilities import REGISTRY, CapabilitySpec
from governance.models import Capability


def _row_values(spec: CapabilitySpec) -> dict[str, object]:
    return {
        "target": spec.target,
        "description": spec.description,
        "mode": spec.mode,
        "risk": spec.risk,
        "requires_approval": spec.requires_approval,
        "approvals_required": spec.approvals_required,
        "max_calls_per_hour": spec.max_calls_per_hour,
        "input_schema": spec.input_schema(),
        "owner": spec.owner,
        "rollback_plan": spec.rollback_plan,
        "escalation_path": spec.escalation_path,
        "docs": spec.docs,
    }


def capability_sync(
    *, registry: tuple[CapabilitySpec, ...] = REGISTRY, now: datetime | None = None
) -> dict[str, int]:
    """Upsert every declared capability; mark rows no longer declared as retired (never delete).

    Runs on ``post_migrate``. Returns counts of created, updated and retired rows.
    """
    now = now or timezone.now()
    declared = {spec.id: spec for spec in registry}
    counts = {"created": 0, "updated": 0, "retired": 0}
    with transaction.atomic():
        existing = {row.id: row for row in Capability.objects.select_for_update()}
        for spec in registry:
            values = {**_row_values(spec), "retired_at": None, "synced_at": now}
            row = existing.get(spec.id)
            if row is None:
                Capability.objects.create(id=spec.id, **values)
                counts["created"] += 1
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.save()
                counts["updated"] += 1
        retired = [
            row_id
            for row_id, row in existing.items()
            if row_id not in declared and row.retired_at is None
        ]
        counts["retired"] = Capability.objects.filter(id__in=retired).update(
            retired_at=now, synced_at=now
        )
    return counts
