"""Capture, mirror, diff, drift and rebuild against the real database, from demo files."""

import json
import random

import pytest
from django.test import override_settings
from django.utils import timezone

from brain.config import replace
from brain.models import CloudRecord, DriftFinding, Snapshot, SnapshotDiff
from brain.services.snapshots import (
    SnapshotError,
    drift_check,
    snapshot_capture,
    snapshot_is_stale,
    studio_rebuild,
)
from brain.state.demo import generate
from brain.state.sources import DemoSource
from brain.state.warnings import warning_text
from tests.factories import ConnectorConfigFactory, ConnectorHealthFactory, DeviceReadingFactory

pytestmark = pytest.mark.django_db


def write_demo(directory, *, seed=1, mutate=None):
    demo = generate(studio="north-kiln", size="small", seed=seed)
    if mutate:
        mutate(demo)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "firestore.json").write_text(json.dumps(demo.firestore))
    (directory / "stripe.json").write_text(json.dumps(demo.stripe))
    return demo


def docs_named(demo, prefix):
    return [d for d in demo.firestore["documents"] if d["name"].startswith(prefix)]


def test_capture_mirrors_every_document_and_stores_the_snapshot_with_a_diff(studio, tmp_path):
    demo = write_demo(tmp_path)
    result = snapshot_capture(studio=studio, source=DemoSource(tmp_path))
    snapshot = result.snapshot
    stripe_count = sum(len(v) for v in demo.stripe.values())
    assert (
        CloudRecord.objects.filter(studio=studio).count()
        == len(demo.firestore["documents"]) + stripe_count
    )
    assert snapshot.completeness == "full"
    assert snapshot.data_source == "demo"
    assert snapshot.content["schema_version"] == "3.0"
    diff = SnapshotDiff.objects.get(current=snapshot)
    assert diff.previous is None
    assert diff.records["firestore:batches"]["added"]["count"] == 60


def test_same_cloud_data_in_any_order_gives_the_same_hash(studio, other_studio, tmp_path):
    write_demo(tmp_path / "a")
    shuffled = write_demo(
        tmp_path / "b", mutate=lambda d: random.Random(3).shuffle(d.firestore["documents"])
    )
    assert shuffled  # the arrival order differs between the two folders
    first = snapshot_capture(studio=studio, source=DemoSource(tmp_path / "a")).snapshot
    second = snapshot_capture(studio=other_studio, source=DemoSource(tmp_path / "b")).snapshot
    again = snapshot_capture(studio=studio, source=DemoSource(tmp_path / "a")).snapshot
    assert first.content_hash == second.content_hash == again.content_hash
    assert json.dumps(first.content, sort_keys=True) == json.dumps(second.content, sort_keys=True)


def test_a_second_capture_of_unchanged_data_has_an_empty_diff(studio, tmp_path):
    write_demo(tmp_path)
    snapshot_capture(studio=studio, source=DemoSource(tmp_path))
    second = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    assert second.diff.metrics == {}
    assert second.diff.records == {}


def test_deleted_documents_are_marked_and_restored_never_dropped(studio, tmp_path):
    full = write_demo(tmp_path)
    snapshot_capture(studio=studio, source=DemoSource(tmp_path))
    gone = docs_named(full, "reservations/")[0]["name"].split("/")[1]
    write_demo(
        tmp_path,
        mutate=lambda d: d.firestore["documents"].remove(docs_named(d, f"reservations/{gone}")[0]),
    )
    second = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    record = CloudRecord.objects.get(studio=studio, collection="reservations", doc_id=gone)
    assert record.deleted_at is not None
    assert second.diff.records["firestore:reservations"]["removed"] == {
        "count": 1,
        "examples": [gone],
    }
    write_demo(tmp_path)
    third = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    record.refresh_from_db()
    assert record.deleted_at is None
    assert third.diff.records["firestore:reservations"]["added"]["count"] == 1


def test_a_changed_document_shows_in_metrics_and_records(studio, tmp_path):
    write_demo(tmp_path)
    first = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    active, closed = (
        first.content["counts"]["batchesActive"],
        first.content["counts"]["batchesClosed"],
    )

    def close_open_batch(demo):
        for doc in docs_named(demo, "batches/"):
            if doc["name"].count("/") == 1 and not doc["fields"].get("state", {}).get(
                "stringValue", ""
            ).startswith("CLOSED_"):
                doc["fields"]["state"] = {"stringValue": "CLOSED_PICKED_UP"}
                return

    write_demo(tmp_path, mutate=close_open_batch)
    second = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    assert second.diff.metrics == {
        "counts.batchesActive": {"from": active, "to": active - 1},
        "counts.batchesClosed": {"from": closed, "to": closed + 1},
    }
    assert second.diff.records["firestore:batches"]["changed"]["count"] == 1


def test_the_scan_limit_marks_the_snapshot_partial_and_deletes_nothing(studio, tmp_path):
    write_demo(tmp_path)
    snapshot_capture(studio=studio, source=DemoSource(tmp_path))
    with override_settings(BRAIN=replace(settings_brain(), scan_limit=50)):
        partial = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    assert partial.completeness == "partial"
    warnings = partial.content["diagnostics"]["warnings"]
    assert any("stopped at the scan limit" in warning_text(w) for w in warnings)
    assert {"code": "SCAN_LIMIT", "source": "firestore", "collection": "batches"} in [
        {key: w[key] for key in ("code", "source", "collection")} for w in warnings
    ]
    assert not CloudRecord.objects.filter(studio=studio, deleted_at__isnull=False).exists()


def test_volatile_fields_do_not_change_the_content_hash(studio, tmp_path):
    write_demo(tmp_path)
    first = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot

    def touch_orders(demo):
        for doc in docs_named(demo, "materialsOrders/"):
            doc["fields"]["updatedAt"] = {"timestampValue": "2026-11-27T00:00:00Z"}

    write_demo(tmp_path, mutate=touch_orders)
    second = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    assert second.content_hash == first.content_hash
    assert second.diff.records == {}


def test_daily_snapshot_is_taken_once_per_local_date(studio, tmp_path):
    write_demo(tmp_path)
    first = snapshot_capture(studio=studio, source=DemoSource(tmp_path), kind=Snapshot.Kind.DAILY)
    again = snapshot_capture(studio=studio, source=DemoSource(tmp_path), kind=Snapshot.Kind.DAILY)
    assert first.created and not again.created
    assert again.snapshot.pk == first.snapshot.pk
    assert Snapshot.objects.filter(studio=studio, kind="daily").count() == 1


def test_rebuild_from_empty_gives_the_same_hash_and_keeps_nothing_stale(studio, tmp_path):
    write_demo(tmp_path)
    before = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    snapshot_capture(studio=studio, source=DemoSource(tmp_path))
    plan, rebuilt = studio_rebuild(studio=studio, source=DemoSource(tmp_path))
    assert plan.snapshots == 2
    assert rebuilt.content_hash == before.content_hash
    assert Snapshot.objects.filter(studio=studio).count() == 1


def test_drift_marks_the_snapshot_partial_and_records_a_finding(studio, tmp_path):
    write_demo(tmp_path)
    snapshot = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    assert drift_check(studio=studio, source=DemoSource(tmp_path)) is None

    def add_reservations(demo):
        for i in range(30):
            demo.firestore["documents"].append(
                {
                    "name": f"reservations/extra{i:03d}",
                    "fields": {},
                    "createTime": "2026-11-01T00:00:00Z",
                    "updateTime": "2026-11-01T00:00:00Z",
                }
            )

    write_demo(tmp_path, mutate=add_reservations)
    finding = drift_check(studio=studio, source=DemoSource(tmp_path))
    assert finding is not None
    assert [d["metric"] for d in finding.drifts] == ["reservations"]
    snapshot.refresh_from_db()
    assert snapshot.completeness == "partial"
    warnings = snapshot.content["diagnostics"]["warnings"]
    assert any(warning_text(w).startswith("drift: reservations") for w in warnings)
    assert [(w["code"], w["source"], w["collection"]) for w in warnings] == [
        ("DRIFT", "firestore", "reservations")
    ]
    assert DriftFinding.objects.filter(studio=studio).count() == 1


def test_drift_needs_a_snapshot(studio, tmp_path):
    write_demo(tmp_path)
    with pytest.raises(SnapshotError):
        drift_check(studio=studio, source=DemoSource(tmp_path))


def test_staleness_follows_the_configured_max_age(studio, tmp_path):
    write_demo(tmp_path)
    snapshot = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    assert not snapshot_is_stale(snapshot)
    later = timezone.now() + settings_brain().snapshot_max_age + timezone.timedelta(seconds=1)
    assert snapshot_is_stale(snapshot, now=later)
    assert snapshot_is_stale(None)


def settings_brain():
    from django.conf import settings

    return settings.BRAIN


def test_rebuild_drops_the_studios_device_readings_but_keeps_health_history(
    studio, other_studio, tmp_path
):
    from connectors.models import ConnectorHealth, DeviceReading

    now = timezone.now()
    for owner in (studio, other_studio):
        config = ConnectorConfigFactory(studio=owner, kind="hubitat", name="hub")
        DeviceReadingFactory(config=config, device_id="1", label="Kiln fan", read_at=now)
        ConnectorHealthFactory(config=config, checked_at=now, availability="healthy")
    write_demo(tmp_path)
    snapshot_capture(studio=studio, source=DemoSource(tmp_path))

    plan, _rebuilt = studio_rebuild(studio=studio, source=DemoSource(tmp_path))

    assert plan.device_readings == 1
    assert list(DeviceReading.objects.values_list("config__studio", flat=True)) == [other_studio.pk]
    assert ConnectorHealth.objects.count() == 2
