"""Finance reconciliation runs: match the mirror, record the run, upsert its flags.

Read-only towards the cloud: it reads the mirror (what the last captures read) and writes
only derived rows (``ReconciliationRun``, ``ReconciliationFlag``). The rules are in the pure
``brain.reconciliation`` package; docs/finance-reconciliation.md explains them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from brain.models import JobRun, ReconciliationFlag, ReconciliationRun, Snapshot, Studio
from brain.reconciliation.matcher import CLASSES, Flag, reconcile
from brain.reconciliation.summary import class_totals, weekly
from brain.selectors import reconciliation_mirror
from brain.state.warnings import collection_key, warning_text
from connectors.models import ConnectorConfig
from connectors.sdk.canonical import canonical_hash

log = structlog.stdlib.get_logger("brain.reconciliation")

STALE_STRIPE_READ = "stale_stripe_read"
# Firestore collection reads an order-level verdict depends on.
ORDER_READS = frozenset({"firestore:materialsOrders", "firestore:eventCharges"})
# The Stripe connector's default read window (connectors/stripe/schemas.py) when a studio's
# config row does not set one.
DEFAULT_STRIPE_WINDOW_DAYS = 120


@dataclass(frozen=True)
class ReconciliationOutcome:
    run: ReconciliationRun
    flags: list[dict[str, Any]]  # this run's flags as JSON (the CLI's "flags")

    def as_json(self) -> dict[str, Any]:
        return {
            "run": run_as_json(self.run),
            "flags": self.flags,
            "summary": self.run.summary.get("by_class", {}),
            "weeks": self.run.summary.get("weeks", []),
        }


def run_as_json(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "studio": run.studio.slug,
        "status": run.status,
        "reason": run.reason,
        "snapshot": run.snapshot_id,
        "stripe_read_at": run.stripe_read_at.isoformat() if run.stripe_read_at else None,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "duration_ms": run.duration_ms,
        "run_flags": run.run_flags,
        "counts": run.counts,
        "orders_checked": run.orders_checked,
        "stripe_objects": run.stripe_objects,
        "flags_new": run.flags_new,
        "flags_resolved": run.flags_resolved,
    }


def _stripe_warnings(snapshot: Snapshot | None) -> list[str]:
    if snapshot is None:
        return []
    return [
        warning_text(item)
        for item in snapshot.content["diagnostics"]["warnings"]
        if item["source"] == "stripe"
    ]


def _window_start(studio: Studio, snapshot: Snapshot, read_at: datetime) -> datetime | None:
    """The earliest creation time the Stripe read covered (the connector reads a window)."""
    if snapshot.data_source != "cloud":
        return None  # the demo source reads every object it has
    config = ConnectorConfig.objects.filter(studio=studio, kind="stripe", enabled=True).first()
    days = DEFAULT_STRIPE_WINDOW_DAYS
    if config is not None and isinstance(config.settings.get("window_days"), int):
        days = config.settings["window_days"]
    return read_at - timedelta(days=days)


def reconciliation_run(
    *, studio: Studio, job_run: JobRun | None = None, now: datetime | None = None
) -> ReconciliationOutcome:
    """Reconcile the studio's mirrored orders against its mirrored Stripe objects.

    The Stripe side is the latest capture that read Stripe. A run without any Stripe read,
    or with no Stripe object in the mirror, is recorded as ``stripe_unavailable`` and
    touches no flag (no data is no verdict). A run on an incomplete read (a Stripe or order
    collection failed or stopped at the scan limit, or the latest capture could not read
    Stripe) is ``partial``: flags are raised and refreshed, none is resolved. A Stripe read
    older than ``BRAIN_RECONCILIATION_STALE_STRIPE_READ`` adds ``stale_stripe_read`` to the
    run. Flags seen again keep their first-seen time; open flags a complete run no longer
    finds are resolved (by the cloud). The number of queries does not depend on the number
    of orders.
    """
    config = settings.BRAIN
    started_at = now or timezone.now()
    clock = time.perf_counter()
    latest = Snapshot.objects.filter(studio=studio).order_by("-generated_at", "-pk").first()
    stripe_snapshot = latest
    if latest is not None and latest.stripe_read_at is None:
        stripe_snapshot = (
            Snapshot.objects.filter(studio=studio, stripe_read_at__isnull=False)
            .order_by("-generated_at", "-pk")
            .first()
        )
    run = ReconciliationRun(
        studio=studio,
        snapshot=latest,
        job_run=job_run,
        started_at=started_at,
        counts=dict.fromkeys(CLASSES, 0),
    )
    if latest is None or stripe_snapshot is None or stripe_snapshot.stripe_read_at is None:
        warnings = _stripe_warnings(latest)
        run.reason = (
            "no capture yet: capture the studio's state first"
            if latest is None
            else "no capture has read Stripe: "
            + (warnings[0] if warnings else "the Stripe read returned nothing")
        )
        return _unavailable(run, clock)
    read_at = stripe_snapshot.stripe_read_at
    orders, stripe = reconciliation_mirror(studio.pk)
    stripe_objects = sum(len(objects) for objects in stripe.values())
    if stripe_objects == 0:
        run.reason = "the mirror holds no Stripe objects: nothing to match the orders against"
        run.stripe_read_at = read_at
        return _unavailable(run, clock)
    problems = list(_stripe_warnings(stripe_snapshot))
    if stripe_snapshot.pk != latest.pk:
        problems.insert(
            0,
            "the latest capture could not read Stripe ("
            + "; ".join(_stripe_warnings(latest) or ["no read time"])
            + f"); Stripe as read at {read_at.isoformat()}",
        )
    problems += [
        warning_text(item)
        for item in latest.content["diagnostics"]["warnings"]
        if collection_key(item) in ORDER_READS
    ]
    stale = started_at - read_at > config.reconciliation_stale_stripe_read
    result = reconcile(
        orders,
        stripe,
        stripe_read_at=read_at,
        pending_after=config.reconciliation_pending_checkout_age,
        stripe_complete=not problems,
        stripe_stale=stale,
        window_start=_window_start(studio, stripe_snapshot, read_at),
    )
    run.status = ReconciliationRun.Status.PARTIAL if problems else ReconciliationRun.Status.COMPLETE
    run.reason = "; ".join(problems)
    run.stripe_read_at = read_at
    run.run_flags = [STALE_STRIPE_READ] if stale else []
    run.orders_checked = len(orders)
    run.stripe_objects = stripe_objects
    by_class = class_totals(result.flags)
    run.counts = {name: line["count"] for name, line in by_class.items()}
    run.summary = {"by_class": by_class, "weeks": weekly(result, ZoneInfo(studio.timezone))}
    with transaction.atomic():
        # Runs of a studio upsert its flags one at a time.
        Studio.objects.select_for_update().only("pk").get(pk=studio.pk)
        run.finished_at = timezone.now()
        run.save()
        flags = _upsert_flags(run, result.flags, resolve=not problems)
        run.duration_ms = round((time.perf_counter() - clock) * 1000)
        run.finished_at = timezone.now()
        ReconciliationRun.objects.filter(pk=run.pk).update(
            duration_ms=run.duration_ms,
            finished_at=run.finished_at,
            flags_new=run.flags_new,
            flags_resolved=run.flags_resolved,
        )
    log.info(
        "reconciliation.run",
        studio=studio.slug,
        status=run.status,
        counts={k: v for k, v in run.counts.items() if v},
        stale=stale,
        orders=run.orders_checked,
        duration_ms=run.duration_ms,
    )
    return ReconciliationOutcome(run, flags)


def _unavailable(run: ReconciliationRun, clock: float) -> ReconciliationOutcome:
    run.status = ReconciliationRun.Status.STRIPE_UNAVAILABLE
    run.summary = {"by_class": class_totals([]), "weeks": []}
    run.duration_ms = round((time.perf_counter() - clock) * 1000)
    run.finished_at = timezone.now()
    run.save()
    log.warning("reconciliation.stripe_unavailable", studio=run.studio.slug, reason=run.reason)
    return ReconciliationOutcome(run, [])


_VALUE_FIELDS = (
    "amount_cents",
    "currency",
    "order_amount_cents",
    "order_currency",
    "stripe_amount_cents",
    "stripe_currency",
    "evidence",
    "details",
    "confidence",
)


def _values(flag: Flag, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount_cents": flag.amount_cents,
        "currency": flag.currency or "",
        "order_amount_cents": flag.order.amount_cents,
        "order_currency": flag.order.currency or "",
        "stripe_amount_cents": flag.stripe_amount_cents,
        "stripe_currency": flag.stripe_currency or "",
        "evidence": document["evidence"],
        "details": {"order": document["order"], "stripe": document["stripe"]},
        "confidence": flag.confidence,
    }


def _upsert_flags(
    run: ReconciliationRun, found: list[Flag], *, resolve: bool
) -> list[dict[str, Any]]:
    """Create new flags, refresh the ones seen again, resolve the vanished, in a fixed number
    of queries: one read of the open flags (keys and value hashes only), one update of every
    open flag seen again, one insert, one update of the changed values, one of the resolved."""
    now = run.finished_at
    open_rows = {
        (row.order_collection, row.order_id, row.flag_class): row
        for row in ReconciliationFlag.objects.filter(
            studio=run.studio, resolved_at__isnull=True
        ).only("pk", "order_collection", "order_id", "flag_class", "values_hash", "first_seen_at")
    }
    created: list[ReconciliationFlag] = []
    changed: list[ReconciliationFlag] = []
    documents: list[dict[str, Any]] = []
    for flag in found:
        document = flag.as_json()
        values = _values(flag, document)
        digest = canonical_hash(values)
        row = open_rows.pop(flag.key, None)
        if row is None:
            created.append(
                ReconciliationFlag(
                    studio=run.studio,
                    order_collection=flag.order.collection,
                    order_id=flag.order.id,
                    flag_class=flag.flag_class,
                    first_seen_at=now,
                    last_seen_at=now,
                    first_run=run,
                    last_run=run,
                    values_hash=digest,
                    **values,
                )
            )
            first_seen = now
        else:
            first_seen = row.first_seen_at
            if row.values_hash != digest:
                for name, value in values.items():
                    setattr(row, name, value)
                row.values_hash = digest
                row.last_seen_at, row.last_run = now, run
                changed.append(row)
        documents.append(
            {
                **document,
                "first_seen": first_seen.isoformat(),
                "last_seen": now.isoformat(),
                "new": row is None,
            }
        )
    vanished = [row.pk for row in open_rows.values()]
    # Every open flag found again, changed or not, was seen by this run.
    ReconciliationFlag.objects.filter(studio=run.studio, resolved_at__isnull=True).exclude(
        pk__in=vanished
    ).update(last_seen_at=now, last_run=run)
    ReconciliationFlag.objects.bulk_create(created)
    if changed:
        ReconciliationFlag.objects.bulk_update(changed, [*_VALUE_FIELDS, "values_hash"])
    run.flags_new = len(created)
    if resolve and vanished:
        run.flags_resolved = ReconciliationFlag.objects.filter(pk__in=vanished).update(
            resolved_at=now
        )
    return documents
