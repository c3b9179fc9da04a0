"""Capturing StudioState: read the cloud, update the mirror, compute, diff, check drift, rebuild."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from brain.models import CloudRecord, DriftFinding, JobRun, Snapshot, SnapshotDiff, Studio
from brain.services.mirror import mirror_sync
from brain.signals import studio_state_captured
from brain.state import warnings as snapshot_warnings
from brain.state.cloud_source import CloudReaders
from brain.state.diff import diff_metrics
from brain.state.drift import find_drift
from brain.state.snapshot import FIRESTORE_COLLECTIONS, CollectionRead, MirrorEntry, compute_content
from brain.state.sources import (
    CloudSource,
    DemoSource,
    ReadProgress,
    SourceError,
    SourceRead,
    collection_group,
)
from connectors.models import ConnectorConfig, DeviceReading
from connectors.runtime import build_connector
from connectors.sdk.canonical import canonical_hash
from connectors.sdk.errors import ConfigurationError, ConnectorError

log = structlog.stdlib.get_logger("brain.snapshots")


class SnapshotError(Exception):
    """A snapshot cannot be taken or changed as asked; the message says why."""


def studio_today(studio: Studio, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(ZoneInfo(studio.timezone)).date()


def content_from_mirror(studio: Studio, reads: list[CollectionRead]) -> dict[str, Any]:
    """Compute snapshot content from the studio's live mirror (two queries)."""
    live = CloudRecord.objects.filter(studio=studio, deleted_at__isnull=True)
    firestore: dict[str, dict[str, Any]] = {}
    stripe: dict[str, list[Any]] = {}
    metric_rows = (
        live.filter(source__in=["firestore", "stripe"])
        .exclude(collection__contains="/")
        .values_list("source", "collection", "doc_id", "data")
    )
    for source, collection, doc_id, data in metric_rows.iterator(chunk_size=5000):
        if source == "firestore":
            firestore.setdefault(collection, {})[doc_id] = data
        else:
            stripe.setdefault(collection, []).append(data)
    entries = (
        MirrorEntry(source, collection, doc_id, digest)
        for source, collection, doc_id, digest in live.values_list(
            "source", "collection", "doc_id", "content_hash"
        ).iterator(chunk_size=10000)
    )
    return compute_content(firestore=firestore, stripe=stripe, reads=reads, mirror=entries)


@dataclass(frozen=True)
class CaptureResult:
    snapshot: Snapshot
    created: bool


def snapshot_capture(
    *,
    studio: Studio,
    source: CloudSource,
    kind: str = Snapshot.Kind.CAPTURE,
    job_run: JobRun | None = None,
    progress: ReadProgress | None = None,
) -> CaptureResult:
    """Read every source, apply the reads to the mirror, and store a snapshot with its diff.

    Reads happen before the transaction (they are I/O); the mirror update, the snapshot and
    its diff commit together, with the studio row locked so captures of a studio serialize.
    A daily snapshot is taken once per local date and never changed afterwards.
    """
    today = studio_today(studio)
    if kind == Snapshot.Kind.DAILY:
        existing = Snapshot.objects.filter(studio=studio, kind=kind, snapshot_date=today).first()
        if existing is not None:
            return CaptureResult(existing, created=False)
    started = time.perf_counter()
    if progress is not None:
        reads: list[SourceRead] = source.read(
            scan_limit=settings.BRAIN.scan_limit, progress=progress
        )
    else:
        reads = source.read(scan_limit=settings.BRAIN.scan_limit)
    read_ms = round((time.perf_counter() - started) * 1000)
    with transaction.atomic():
        Studio.objects.select_for_update().get(pk=studio.pk)
        if (
            kind == Snapshot.Kind.DAILY
            and Snapshot.objects.filter(studio=studio, kind=kind, snapshot_date=today).exists()
        ):
            return CaptureResult(
                Snapshot.objects.get(studio=studio, kind=kind, snapshot_date=today), False
            )
        sync_started = time.perf_counter()
        changes: dict[str, Any] = {}
        for read in reads:
            changes.update(
                {
                    f"{read.source}:{name}": change
                    for name, change in mirror_sync(studio=studio, read=read).items()
                }
            )
        sync_ms = round((time.perf_counter() - sync_started) * 1000)
        compute_started = time.perf_counter()
        collection_reads = [r for read in reads for r in read.reads]
        content = content_from_mirror(studio, collection_reads)
        compute_ms = round((time.perf_counter() - compute_started) * 1000)
        previous = Snapshot.objects.filter(studio=studio).order_by("-generated_at", "-pk").first()
        read_at = {read.source: read.read_at for read in reads}
        snapshot = Snapshot.objects.create(
            studio=studio,
            kind=kind,
            snapshot_date=today,
            generated_at=timezone.now(),
            firestore_read_at=read_at.get("firestore"),
            stripe_read_at=read_at.get("stripe"),
            data_source=source.name,
            content=content,
            content_hash=canonical_hash(content),
            completeness=content["diagnostics"]["completeness"],
            durations_ms={
                "read": read_ms,
                "mirror": sync_ms,
                "compute": compute_ms,
                **{f"read_{r.source}": r.duration_ms for r in reads},
            },
            job_run=job_run,
        )
        SnapshotDiff.objects.create(
            studio=studio,
            previous=previous,
            current=snapshot,
            metrics=diff_metrics(previous.content if previous else None, content),
            records=changes,
        )
        transaction.on_commit(lambda: _announce(studio, snapshot))
    log.info(
        "studio_state.captured",
        studio=studio.slug,
        kind=kind,
        content_hash=snapshot.content_hash,
        completeness=snapshot.completeness,
        durations_ms=snapshot.durations_ms,
    )
    return CaptureResult(snapshot, created=True)


def _announce(studio: Studio, snapshot: Snapshot) -> None:
    """Tell receivers (governance's agent sync) the mirror is fresh; a failing receiver is
    logged and does not undo or fail the capture, which has committed."""
    for receiver, result in studio_state_captured.send_robust(
        sender=Snapshot, studio=studio, snapshot=snapshot
    ):
        if isinstance(result, Exception):
            log.error(
                "studio_state.receiver_failed",
                studio=studio.slug,
                receiver=getattr(receiver, "__qualname__", str(receiver)),
                error=f"{type(result).__name__}: {result}"[:300],
            )


def snapshot_latest(studio: Studio) -> Snapshot | None:
    return Snapshot.objects.filter(studio=studio).order_by("-generated_at", "-pk").first()


def snapshot_is_stale(snapshot: Snapshot | None, now: datetime | None = None) -> bool:
    if snapshot is None:
        return True
    return (now or timezone.now()) - snapshot.generated_at > settings.BRAIN.snapshot_max_age


def drift_check(*, studio: Studio, source: CloudSource) -> DriftFinding | None:
    """Compare fresh collection counts with the latest snapshot; record and flag any drift.

    Only collections the snapshot read completely are compared (a scan-limited count is not
    an expectation). Drift marks the snapshot partial with a warning per drifting collection.
    """
    snapshot = snapshot_latest(studio)
    if snapshot is None:
        raise SnapshotError("no snapshot to compare with yet; capture one first")
    try:
        observed = source.count()
    except SourceError as error:
        # No fresh counts is no evidence either way: the snapshot stays as it is.
        log.warning("studio_state.drift_unchecked", studio=studio.slug, error=str(error))
        return None
    scanned = snapshot.content["diagnostics"]["documents_scanned"]
    incomplete = snapshot_warnings.incomplete_collections(
        snapshot.content["diagnostics"]["warnings"]
    )
    expected = {
        name: scanned[f"firestore:{name}"]
        for name in FIRESTORE_COLLECTIONS
        if f"firestore:{name}" in scanned and f"firestore:{name}" not in incomplete
    }
    config = settings.BRAIN
    drifts = find_drift(
        expected, observed, absolute=config.drift_absolute, ratio=config.drift_ratio
    )
    if not drifts:
        log.info("studio_state.drift_checked", studio=studio.slug, drifting=0)
        return None
    with transaction.atomic():
        locked = Snapshot.objects.select_for_update().get(pk=snapshot.pk)
        diagnostics = locked.content["diagnostics"]
        diagnostics["completeness"] = "partial"
        diagnostics["warnings"] = snapshot_warnings.sorted_warnings(
            [
                *diagnostics["warnings"],
                *(snapshot_warnings.drift(d.metric, d.expected, d.observed) for d in drifts),
            ]
        )
        locked.completeness = "partial"
        locked.content_hash = canonical_hash(locked.content)
        locked.save(update_fields=["content", "completeness", "content_hash"])
        finding = DriftFinding.objects.create(
            studio=studio,
            snapshot=locked,
            drifts=[d.as_json() for d in drifts],
            thresholds={"absolute": config.drift_absolute, "ratio": config.drift_ratio},
            checked_at=timezone.now(),
        )
    log.warning(
        "studio_state.drift_detected", studio=studio.slug, drifts=[d.as_json() for d in drifts]
    )
    return finding


@dataclass(frozen=True)
class RebuildPlan:
    records_by_collection: dict[str, int]
    records: int
    snapshots: int
    diffs: int
    drift_findings: int
    device_readings: int
    latest_hash: str | None


def rebuild_plan(studio: Studio) -> RebuildPlan:
    latest = snapshot_latest(studio)
    by_collection: dict[str, int] = {}
    rows = CloudRecord.objects.filter(studio=studio, deleted_at__isnull=True).values_list(
        "source", "collection"
    )
    for source_name, collection in rows.iterator(chunk_size=10000):
        key = f"{source_name}:{collection_group(collection)}"
        by_collection[key] = by_collection.get(key, 0) + 1
    return RebuildPlan(
        records_by_collection=by_collection,
        records=CloudRecord.objects.filter(studio=studio).count(),
        snapshots=Snapshot.objects.filter(studio=studio).count(),
        diffs=SnapshotDiff.objects.filter(studio=studio).count(),
        drift_findings=DriftFinding.objects.filter(studio=studio).count(),
        device_readings=DeviceReading.objects.filter(config__studio=studio).count(),
        latest_hash=latest.content_hash if latest else None,
    )


def studio_rebuild(
    *, studio: Studio, source: CloudSource, progress: ReadProgress | None = None
) -> tuple[RebuildPlan, Snapshot]:
    """Drop every derived row of the studio (never audit history) and recompute from cloud reads."""
    plan = rebuild_plan(studio)
    with transaction.atomic():
        Studio.objects.select_for_update().get(pk=studio.pk)
        DriftFinding.objects.filter(studio=studio).delete()
        SnapshotDiff.objects.filter(studio=studio).delete()
        Snapshot.objects.filter(studio=studio).delete()
        CloudRecord.objects.filter(studio=studio).delete()
        _drop_other_derived(studio)
    result = snapshot_capture(
        studio=studio, source=source, kind=Snapshot.Kind.CAPTURE, progress=progress
    )
    log.info(
        "studio_state.rebuilt",
        studio=studio.slug,
        previous_hash=plan.latest_hash,
        new_hash=result.snapshot.content_hash,
        same=plan.latest_hash == result.snapshot.content_hash,
    )
    return plan, result.snapshot


def _drop_device_readings(studio: Studio) -> None:
    """Device readings are derived (the next poll re-reads them). Connector health samples
    are kept: they are the history of outages, pruned by age, not state to recompute."""
    DeviceReading.objects.filter(config__studio=studio).delete()


# Derived state outside the snapshot tables; another module may append its own cleanup.
DERIVED_CLEANUPS: list[Callable[[Studio], None]] = [_drop_device_readings]


def _drop_other_derived(studio: Studio) -> None:
    for cleanup in DERIVED_CLEANUPS:
        cleanup(studio)


def prune_snapshots(*, studio: Studio | None = None, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.BRAIN.retention_days)
    queryset = Snapshot.objects.filter(generated_at__lt=cutoff)
    if studio is not None:
        queryset = queryset.filter(studio=studio)
    deleted, _ = queryset.delete()
    return deleted


def demo_directory(studio_slug: str) -> Path:
    base = Path(settings.BRAIN.demo_dir)
    if not base.is_absolute():
        base = Path(settings.BASE_DIR) / base
    return base / studio_slug


def source_for(studio: Studio, name: str | None = None) -> CloudSource:
    """The configured source of cloud reads for a studio: ``demo`` files or the ``cloud`` readers."""
    name = name or ("demo" if settings.BRAIN.demo_mode else "cloud")
    if name == "demo":
        return DemoSource(demo_directory(studio.slug))
    if name == "cloud":
        return cloud_source(studio)
    raise SnapshotError(f"unknown source {name!r}; use demo or cloud")


# Runtime-wide defaults (BRAIN_* settings) a studio's cloud connector falls back on.
_SECRET_DEFAULTS = {"firestore": {"credentials": "BRAIN_FIRESTORE_CREDENTIALS"}}


def _effective_config(config: ConnectorConfig) -> ConnectorConfig:
    """The config with the runtime's defaults filled in where the studio's row is silent:
    Firestore's project and credentials, Stripe's API address and key. Not saved."""
    brain = settings.BRAIN
    defaults: dict[str, Any] = {}
    secret_env: dict[str, str] = {}
    if config.kind == "firestore":
        if brain.firestore_project:
            defaults["project"] = brain.firestore_project
        if brain.firestore_credentials is not None:
            secret_env["credentials"] = "BRAIN_FIRESTORE_CREDENTIALS"
    elif config.kind == "stripe":
        if brain.stripe_api_base:
            defaults["api_base"] = brain.stripe_api_base
        secret_env["api_key"] = "BRAIN_STRIPE_API_KEY"
    return ConnectorConfig(
        pk=config.pk,
        studio_id=config.studio_id,
        kind=config.kind,
        name=config.name,
        settings={**defaults, **config.settings},
        secret_env={**secret_env, **config.secret_env},
        enabled=config.enabled,
        mode=config.mode,
    )


def cloud_source(studio: Studio) -> CloudReaders:
    """The studio's cloud readers from its enabled connectors: exactly one ``firestore`` (required)
    and at most one ``stripe`` (without it, Stripe's collections read as failed: partial)."""
    configs = list(
        ConnectorConfig.objects.filter(
            studio=studio, enabled=True, kind__in=["firestore", "stripe"]
        ).order_by("name")
    )
    by_kind: dict[str, list[ConnectorConfig]] = {"firestore": [], "stripe": []}
    for config in configs:
        by_kind[config.kind].append(config)
    for kind, found in by_kind.items():
        if len(found) > 1:
            names = ", ".join(c.name for c in found)
            raise SnapshotError(
                f"{studio.slug} has {len(found)} enabled {kind} connectors ({names}); "
                "disable all but one"
            )
    if not by_kind["firestore"]:
        raise SnapshotError(
            f"{studio.slug} has no enabled firestore connector; add one with "
            f"`manage.py connector add --studio {studio.slug} --kind firestore --name cloud "
            "--setting project=<gcp-project>`, or use --source demo"
        )
    try:
        firestore = build_connector(_effective_config(by_kind["firestore"][0]))
    except (ConfigurationError, ConnectorError, ValueError) as error:
        raise SnapshotError(f"the firestore connector is misconfigured: {error}") from None
    stripe = None
    missing = "no Stripe connector is configured for this studio"
    if by_kind["stripe"]:
        try:
            stripe = build_connector(_effective_config(by_kind["stripe"][0]))
        except (ConfigurationError, ConnectorError, ValueError) as error:
            # Firestore alone still gives most of the snapshot; Stripe's part reads as failed.
            missing = f"the stripe connector is misconfigured: {error}"
    return CloudReaders(firestore=firestore, stripe=stripe, stripe_missing=missing)
