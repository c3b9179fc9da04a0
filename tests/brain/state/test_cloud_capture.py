"""Capture, mirror, drift and rebuild from the cloud peers, through the real readers.

The demo cloud is loaded into the Firestore peer and into localstripe (+ the front's
Checkout Sessions and Disputes) by ``tests/peers/demo_loader.py``; the brain then reads it
back through ``source_for(studio, "cloud")``, exactly as it would read the studio's cloud.
"""

from __future__ import annotations

import copy
import json
from io import StringIO

import grpc
import pytest
from django.core.management import CommandError, call_command

from brain.config import replace
from brain.models import CloudRecord, DriftFinding, Snapshot
from brain.services.snapshots import (
    SnapshotError,
    drift_check,
    snapshot_capture,
    source_for,
    studio_rebuild,
)
from brain.state.demo import generate
from brain.state.snapshot import FIRESTORE_GROUPS, metrics_of, unsettled_payments
from brain.state.sources import DemoSource
from brain.state.warnings import warning_text
from connectors.runtime import breaker_for
from connectors.sdk.canonical import canonical_hash
from connectors.services import connector_config_create
from connectors.stripe.schemas import RESOURCES as STRIPE_RESOURCES
from tests.factories import ConnectorConfigFactory
from tests.peers.demo_loader import load_demo, load_firestore, load_stripe, rewrite_export
from tests.peers.fixtures import FIRESTORE_PROJECT

pytestmark = pytest.mark.django_db

FAST = {
    "timeout": 2.0,
    "retry_attempts": 2,
    "retry_wait_initial": 0.01,
    "retry_wait_max": 0.05,
    "retry_jitter": 0.0,
    "total_timeout": 10,
}


def texts(snapshot):
    """The snapshot's structured warnings as the lines people read."""
    return [warning_text(w) for w in snapshot.content["diagnostics"]["warnings"]]


def configure_cloud(studio, stripe_peer, *, stripe=True, page_size=7):
    """The studio's Firestore and Stripe connectors, aimed at the peers (breakers reset)."""
    configs = [
        connector_config_create(
            studio_id=studio.id,
            kind="firestore",
            name="cloud",
            settings={"project": FIRESTORE_PROJECT, "page_size": page_size, **FAST},
            secret_env={},
        )
    ]
    if stripe:
        configs.append(
            connector_config_create(
                studio_id=studio.id,
                kind="stripe",
                name="payments",
                settings={
                    "api_base": stripe_peer.url,
                    # localstripe refuses created filters except on the front's fixture routes.
                    "created_filter_unsupported": [
                        r for r in STRIPE_RESOURCES if r not in ("checkout_sessions", "disputes")
                    ],
                    **FAST,
                },
                secret_env={"api_key": "TEST_STRIPE_READ_KEY"},
            )
        )
    for config in configs:
        breaker_for(config).reset()
    return configs


@pytest.fixture
def cloud(studio, firestore_client, stripe_peer, monkeypatch):
    # A restricted key (rk_...) in production; localstripe only accepts sk_ keys (401 else).
    monkeypatch.setenv("TEST_STRIPE_READ_KEY", "sk_test_brain_reads")
    configs = configure_cloud(studio, stripe_peer)
    yield configs
    for config in configs:
        breaker_for(config).reset()


@pytest.fixture
def demo():
    return generate(studio="north-kiln", size="small", seed=1)


@pytest.fixture
def loaded(demo, cloud, firestore_client, firestore_peer, stripe_peer):
    result = load_demo(demo, firestore_client=firestore_client, stripe_peer=stripe_peer)
    firestore_peer.reset_counters()
    stripe_peer.reset_counters()
    return result


def capture(studio, source=None):
    return snapshot_capture(studio=studio, source=source or source_for(studio, "cloud")).snapshot


def write_demo_files(directory, firestore_export, stripe_objects):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "firestore.json").write_text(json.dumps(firestore_export))
    (directory / "stripe.json").write_text(json.dumps(stripe_objects))
    return directory


def mirrored_unsettled(studio):
    live = CloudRecord.objects.filter(studio=studio, deleted_at__isnull=True)
    orders = {
        r.doc_id: r.data for r in live.filter(source="firestore", collection="materialsOrders")
    }
    stripe: dict[str, list] = {}
    for record in live.filter(source="stripe"):
        stripe.setdefault(record.collection, []).append(record.data)
    return unsettled_payments(orders, stripe)


def without_stripe_reads(content):
    """The content minus what only Stripe's object ids and counts decide."""
    trimmed = copy.deepcopy(content)
    trimmed["source_hashes"].pop("stripe", None)
    trimmed["diagnostics"]["documents_scanned"] = {
        key: value
        for key, value in trimmed["diagnostics"]["documents_scanned"].items()
        if not key.startswith("stripe:")
    }
    return trimmed


def test_a_capture_from_the_peers_matches_the_demo_files(
    studio, other_studio, demo, loaded, tmp_path
):
    cloud_snapshot = capture(studio)
    # The demo files with the orders pointing at localstripe's PaymentIntent ids: the same
    # Firestore data the peer holds.
    rewritten = write_demo_files(
        tmp_path / "rewritten", rewrite_export(demo.firestore, loaded.intent_ids), demo.stripe
    )
    original = write_demo_files(tmp_path / "original", demo.firestore, demo.stripe)
    demo_snapshot = capture(other_studio, DemoSource(rewritten))
    original_snapshot = snapshot_capture(studio=other_studio, source=DemoSource(original)).snapshot

    cloud, files = cloud_snapshot.content, demo_snapshot.content
    assert cloud_snapshot.completeness == demo_snapshot.completeness == "full"
    assert metrics_of(cloud) == metrics_of(files) == metrics_of(original_snapshot.content)
    assert cloud["finance"]["unsettledPayments"] > 0
    assert mirrored_unsettled(studio) == mirrored_unsettled(other_studio)
    # Byte-identical Firestore side: same documents, same masks, same hash.
    assert cloud["source_hashes"]["firestore"] == files["source_hashes"]["firestore"]
    assert canonical_hash(without_stripe_reads(cloud)) == canonical_hash(
        without_stripe_reads(files)
    )
    # The Stripe side cannot be byte-identical: localstripe assigns its own ids and object
    # shapes (and makes a balance transaction for every charge and refund).
    assert cloud["source_hashes"]["stripe"] != files["source_hashes"]["stripe"]
    assert cloud_snapshot.data_source == "cloud"


def test_the_snapshot_carries_the_servers_read_time(studio, loaded, firestore_client):
    written = firestore_client.collection("kilns").document("kiln-late").set({"name": "Late"})

    snapshot = capture(studio)

    assert snapshot.firestore_read_at >= written.update_time
    read_times = set(
        CloudRecord.objects.filter(studio=studio, source="firestore").values_list(
            "read_at", flat=True
        )
    )
    assert read_times == {snapshot.firestore_read_at}
    assert snapshot.stripe_read_at is not None


def test_counting_rules_hold_end_to_end(studio, cloud, firestore_client):
    def put(path, docs):
        batch = firestore_client.batch()
        for doc_id, fields in docs.items():
            batch.set(firestore_client.collection(path).document(doc_id), fields)
        batch.commit()

    put(
        "batches",
        {
            "b1": {"state": "CLOSED_FIRED"},
            "b2": {"state": "closed_fired"},  # case-sensitive: active
            "b3": {},  # missing: active
            "b4": {"state": 7},  # not a string: active
            "b5": {"state": "GLAZING"},
        },
    )
    put(
        "reservations",
        {
            "r1": {"status": "cancelled"},
            "r2": {"status": "Booked"},
            "r3": {},
            "r4": {"status": "CLOSED"},
        },
    )
    put(
        "kilnFirings",
        {
            "f1": {"status": "Firing"},
            "f2": {"status": "done"},
            "f3": {},
            "f4": {"status": "QUEUED"},
        },
    )
    put(
        "communityReports",
        {
            "c1": {"status": "open", "severity": "HIGH"},
            "c2": {"status": "resolved", "severity": "high"},
            "c3": {},
            "c4": {"status": "dismissed"},
        },
    )
    put("trackerTickets", {"t1": {"blocked": True}, "t2": {"blocked": "true"}, "t3": {}})
    put(
        "agentRequests",
        {"a1": {"status": "NEEDS_REVIEW"}, "a2": {}, "a3": {"status": "done"}},
    )
    put(
        "materialsOrders",
        {
            "o1": {"status": "checkout_pending"},
            "o2": {},
            "o3": {"status": "PAID", "stripePaymentIntentId": "pi_missing"},
            "o4": {"status": "cancelled"},
        },
    )

    content = capture(studio).content

    assert content["counts"] == {
        "batchesActive": 4,
        "batchesClosed": 1,
        "reservationsOpen": 2,
        "firingsScheduled": 2,
        "reportsOpen": 2,
    }
    assert content["ops"] == {
        "blockedTickets": 1,
        "agentRequestsPending": 2,
        "highSeverityReports": 2,
    }
    # o3 is paid in Firestore with no succeeded payment in Stripe.
    assert content["finance"] == {"pendingOrders": 2, "unsettledPayments": 1}


def test_every_document_is_mirrored_once_across_pages(studio, demo, loaded, firestore_peer):
    snapshot = capture(studio)

    firestore_records = CloudRecord.objects.filter(studio=studio, source="firestore")
    assert firestore_records.count() == len(demo.firestore["documents"])
    assert snapshot.content["diagnostics"]["documents_scanned"]["firestore:batches"] == 60
    pieces = [d for d in demo.firestore["documents"] if "/pieces/" in d["name"]]
    assert snapshot.content["diagnostics"]["documents_scanned"][
        "firestore:batches/*/pieces"
    ] == len(pieces)
    # Pages of 7: far more queries than collections, so paging really happened.
    assert firestore_peer.calls["RunQuery"] > len(FIRESTORE_GROUPS) + 60 * 6


def test_the_scan_limit_makes_the_snapshot_partial_and_deletes_nothing(studio, loaded, settings):
    capture(studio)
    settings.BRAIN = replace(settings.BRAIN, scan_limit=50)

    partial = capture(studio)

    warnings = texts(partial)
    assert partial.completeness == "partial"
    assert "firestore:batches stopped at the scan limit after 50 documents" in warnings
    assert any(
        w.startswith("firestore:batches/*/pieces stopped at the scan limit") for w in warnings
    )
    assert not CloudRecord.objects.filter(studio=studio, deleted_at__isnull=False).exists()


def test_a_failing_collection_makes_the_snapshot_partial_not_a_crash(
    studio, loaded, firestore_peer, stripe_peer
):
    full = capture(studio)
    # The first RunQuery of a capture is the first page of batches: fail both attempts.
    firestore_peer.inject_fault("RunQuery", code=grpc.StatusCode.UNAVAILABLE, times=2)
    stripe_peer.inject_fault("/v1/refunds", status=500, times=10)

    partial = capture(studio)

    warnings = texts(partial)
    assert partial.completeness == "partial"
    assert any(w.startswith("firestore:batches read failed: UNAVAILABLE") for w in warnings), (
        warnings
    )
    assert "firestore:batches/*/pieces read failed: not read: reading batches failed" in warnings
    assert any(w.startswith("stripe:refunds read failed: UNAVAILABLE") for w in warnings)
    # What could not be read keeps its last known state: nothing deleted, metrics unchanged.
    assert not CloudRecord.objects.filter(studio=studio, deleted_at__isnull=False).exists()
    assert partial.content["counts"] == full.content["counts"]
    assert partial.content["diagnostics"]["documents_scanned"]["firestore:reservations"] == 45


def test_a_cursor_that_does_not_advance_fails_that_collection_only(studio, loaded, firestore_peer):
    # Page 1 of batches is answered normally, page 2 repeats it (the npm emulator's bug).
    firestore_peer.inject_fault("RunQuery", code=None, ignore_cursors=True, times=2)

    snapshot = capture(studio)

    warnings = texts(snapshot)
    assert snapshot.completeness == "partial"
    assert any(
        w.startswith("firestore:batches read failed: BAD_RESPONSE")
        and "cursor did not advance" in w
        for w in warnings
    ), warnings
    assert snapshot.content["diagnostics"]["documents_scanned"]["firestore:reservations"] == 45


def test_arrival_order_does_not_change_the_hash_and_rebuild_reproduces_it(
    studio, demo, cloud, firestore_client, firestore_peer, stripe_peer
):
    stripe = load_stripe(stripe_peer, demo.stripe)
    export = rewrite_export(demo.firestore, stripe.intent_ids)
    load_firestore(firestore_client, export, shuffle_seed=1)
    first = capture(studio)
    second = capture(studio)

    firestore_peer.reset()  # a fresh peer, the same documents written in another order
    load_firestore(firestore_client, export, shuffle_seed=2)
    third = capture(studio)
    _plan, rebuilt = studio_rebuild(studio=studio, source=source_for(studio, "cloud"))

    assert first.content_hash == second.content_hash == third.content_hash == rebuilt.content_hash
    assert second.diff.records == {} and third.diff.records == {}
    assert Snapshot.objects.filter(studio=studio).count() == 1


def test_deleted_documents_are_marked_and_restored_through_the_peer(
    studio, loaded, firestore_client
):
    capture(studio)
    reservation = firestore_client.collection("reservations").document("res000003")
    fields = reservation.get().to_dict()
    reservation.delete()

    second = capture(studio)
    record = CloudRecord.objects.get(studio=studio, collection="reservations", doc_id="res000003")
    assert record.deleted_at is not None
    assert second.diff.records["firestore:reservations"]["removed"] == {
        "count": 1,
        "examples": ["res000003"],
    }

    reservation.set(fields)
    third = capture(studio)
    record.refresh_from_db()
    assert record.deleted_at is None
    assert third.diff.records["firestore:reservations"]["added"]["count"] == 1


def test_drift_compares_fresh_counts_including_an_expected_zero(studio, loaded, firestore_client):
    snapshot = capture(studio)
    source = source_for(studio, "cloud")
    assert snapshot.content["diagnostics"]["documents_scanned"]["firestore:kilnLaunchRequests"] == 0
    assert drift_check(studio=studio, source=source) is None

    firestore_client.collection("kilnLaunchRequests").document("k1").set({"status": "new"})
    finding = drift_check(studio=studio, source=source)

    assert finding is not None
    # Expected 0, observed 1: ratio 1 (docs/domain.md), far past the 0.5 threshold.
    assert finding.drifts == [
        {"metric": "kilnLaunchRequests", "expected": 0, "observed": 1, "delta": 1, "ratio": 1.0}
    ]
    snapshot.refresh_from_db()
    assert snapshot.completeness == "partial"
    assert DriftFinding.objects.filter(studio=studio).count() == 1


def test_drift_is_left_unchecked_when_counts_cannot_be_had(studio, loaded, firestore_peer):
    snapshot = capture(studio)
    firestore_peer.inject_fault("RunAggregationQuery", code=grpc.StatusCode.UNAVAILABLE, times=10)

    assert drift_check(studio=studio, source=source_for(studio, "cloud")) is None

    snapshot.refresh_from_db()
    assert snapshot.completeness == "full"
    assert not DriftFinding.objects.exists()


def test_a_rate_limited_stripe_is_waited_out_within_a_capture(studio, loaded, stripe_peer):
    stripe_peer.inject_fault("/v1/payment_intents", status=429, times=1, retry_after=0.05)

    snapshot = capture(studio)

    assert snapshot.completeness == "full"
    assert stripe_peer.calls["GET /v1/payment_intents"] >= 2


def test_reading_the_cloud_writes_nothing_to_either_peer(
    studio, loaded, firestore_peer, stripe_peer
):
    capture(studio)
    drift_check(studio=studio, source=source_for(studio, "cloud"))

    assert firestore_peer.calls["RunQuery"] > 0 and firestore_peer.calls["RunAggregationQuery"] > 0
    assert stripe_peer.request_count > 0
    assert firestore_peer.write_calls == 0
    assert stripe_peer.write_calls == 0


def test_without_a_stripe_connector_the_snapshot_is_partial_and_says_why(
    studio, firestore_client, stripe_peer
):
    configure_cloud(studio, stripe_peer, stripe=False)

    snapshot = capture(studio)

    assert snapshot.completeness == "partial"
    assert (
        "stripe:payment_intents read failed: not read: no Stripe connector is configured for this studio"
        in texts(snapshot)
    )
    assert snapshot.stripe_read_at is None


def test_the_cloud_source_needs_a_firestore_connector(studio):
    with pytest.raises(SnapshotError, match="no enabled firestore connector"):
        source_for(studio, "cloud")
    ConnectorConfigFactory(studio=studio, kind="firestore", name="off", enabled=False)
    with pytest.raises(SnapshotError, match="no enabled firestore connector"):
        source_for(studio, "cloud")


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_snapshot_and_rebuild_commands_work_against_the_peers(studio, loaded):
    out, _ = run("snapshot", "--studio", studio.slug, "--source", "cloud", "--json")
    summary = json.loads(out)
    rebuilt, progress = run("rebuild", "--studio", studio.slug, "--source", "cloud", "--confirm")
    report, _ = run("rebuild", "--studio", studio.slug, "--source", "cloud", "--confirm", "--json")

    assert summary["completeness"] == "full"
    assert summary["data_source"] == "cloud"
    assert json.loads(report)["same"] is True
    assert "rebuilt snapshot hash EQUALS the one before" in rebuilt
    assert "firestore:batches/*/pieces" in progress
    assert "stripe:payouts" in progress


def test_the_snapshot_command_names_the_missing_connector(studio):
    with pytest.raises(CommandError, match="no enabled firestore connector"):
        run("snapshot", "--studio", studio.slug, "--source", "cloud")


def test_the_connector_poll_checks_cloud_connectors_without_reading_devices(studio, cloud):
    from connectors.models import DeviceReading
    from connectors.services import connector_poll

    outcomes = [connector_poll(config=config) for config in cloud]

    assert [o.health.availability for o in outcomes] == ["healthy", "healthy"]
    assert [o.health.error_code for o in outcomes] == ["", ""]
    assert not DeviceReading.objects.exists()


def test_every_group_the_brain_reads_has_a_field_mask_and_no_other():
    from connectors.firestore.schemas import FIELD_MASKS

    assert set(FIELD_MASKS) == set(FIRESTORE_GROUPS)
    orders = FIELD_MASKS["materialsOrders"]
    assert orders is not None and {"status", "stripePaymentIntentId", "totalCents"} <= set(orders)


def test_the_demo_source_mirrors_what_the_reader_would(tmp_path, demo):
    demo.firestore["documents"].append(
        {
            "name": "secretsNobodyReads/x1",
            "fields": {"value": {"stringValue": "x"}},
            "createTime": "2026-11-01T00:00:00Z",
            "updateTime": "2026-11-01T00:00:00Z",
        }
    )
    write_demo_files(tmp_path, demo.firestore, demo.stripe)

    [firestore, _stripe] = DemoSource(tmp_path).read(scan_limit=5000)

    profiles = [d for d in firestore.documents if d.collection == "profiles"]
    assert profiles and all("email" not in d.data for d in profiles)  # masked out
    assert not any(d.collection == "secretsNobodyReads" for d in firestore.documents)
    assert {r.collection for r in firestore.reads} == set(FIRESTORE_GROUPS)


def test_the_runtime_settings_fill_in_what_a_stripe_connector_leaves_out(
    studio, firestore_client, stripe_peer, settings, monkeypatch
):
    configure_cloud(studio, stripe_peer, stripe=False)
    # A row that names neither the API address nor the key (the CLI would insist on the key).
    config = ConnectorConfigFactory(
        studio=studio,
        kind="stripe",
        name="payments",
        settings={"created_filter_unsupported": ["payment_intents", "charges"], **FAST},
        secret_env={},
    )
    breaker_for(config).reset()
    settings.BRAIN = replace(settings.BRAIN, stripe_api_base=stripe_peer.url)
    monkeypatch.setenv("BRAIN_STRIPE_API_KEY", "sk_test_from_the_runtime")
    stripe_peer.client().v1.payment_intents.create(params={"amount": 900, "currency": "gbp"})

    snapshot = capture(studio)

    scanned = snapshot.content["diagnostics"]["documents_scanned"]
    assert scanned["stripe:payment_intents"] == 1
    assert not any(w.startswith("stripe:payment_intents") for w in texts(snapshot))

    monkeypatch.delenv("BRAIN_STRIPE_API_KEY")
    without_key = capture(studio)
    assert any(
        "the stripe connector is misconfigured" in w and "BRAIN_STRIPE_API_KEY" in w
        for w in texts(without_key)
    )
