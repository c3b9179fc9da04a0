"""Capture then reconcile from the cloud peers: the demo cloud loaded into the Firestore peer
and into localstripe (Checkout Sessions and Disputes from the front's fixture routes), read
back through the real connectors. localstripe makes its own ids and object shapes (charges
without metadata, refunds naming only their charge, no ``amount_received``), so this is the
matcher on Stripe objects it did not shape."""

from __future__ import annotations

import copy
import json

import pytest

from brain.models import ReconciliationFlag, ReconciliationRun
from brain.reconciliation.matcher import CLASSES
from brain.services.reconciliation import reconciliation_run
from brain.services.snapshots import snapshot_capture, source_for
from brain.state.demo import generate
from connectors.runtime import breaker_for
from tests.brain.state.test_cloud_capture import configure_cloud
from tests.peers.demo_loader import load_demo
from tests.peers.stripe_peer import RECORDED_CHECKOUT_SESSIONS, RECORDED_DISPUTES

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud(studio, firestore_client, stripe_peer, monkeypatch):
    monkeypatch.setenv("TEST_STRIPE_READ_KEY", "sk_test_brain_reads")
    configs = configure_cloud(studio, stripe_peer)
    yield configs
    for config in configs:
        breaker_for(config).reset()


def test_capture_then_reconcile_finds_every_planted_discrepancy(
    studio, cloud, firestore_client, stripe_peer
):
    demo = generate(studio=studio.slug, size="small", seed=1)
    load_demo(demo, firestore_client=firestore_client, stripe_peer=stripe_peer)
    stripe_peer.reset_counters()

    snapshot = snapshot_capture(studio=studio, source=source_for(studio, "cloud")).snapshot
    outcome = reconciliation_run(studio=studio)

    assert snapshot.stripe_read_at is not None
    run = outcome.run
    assert run.status == ReconciliationRun.Status.COMPLETE, run.reason
    assert run.stripe_read_at == snapshot.stripe_read_at
    expected = {(f["order_id"], f["class"]) for f in demo.manifest["reconciliation"]["flags"]}
    found = set(
        ReconciliationFlag.objects.filter(studio=studio).values_list("order_id", "flag_class")
    )
    assert found == expected
    assert {name for _, name in found} == set(CLASSES)
    refund = next(f for f in outcome.flags if f["class"] == "refund_not_reflected")
    assert refund["evidence"][0].startswith("re_")  # localstripe's refund id
    assert stripe_peer.write_calls == 0  # reconciliation never writes to Stripe


def test_the_recorded_sessions_and_disputes_join_their_orders(
    studio, cloud, firestore_client, stripe_peer
):
    sessions = json.loads(RECORDED_CHECKOUT_SESSIONS.read_text())
    disputes = json.loads(RECORDED_DISPUTES.read_text())
    stripe_peer.load_checkout_sessions(copy.deepcopy(sessions))
    stripe_peer.load_disputes(copy.deepcopy(disputes))
    # One order per recorded session, pending since long before the read, nothing paid in
    # localstripe: paid sessions are no succeeded payment, so these are stuck checkouts.
    batch = firestore_client.batch()
    for session in sessions:
        batch.set(
            firestore_client.collection("materialsOrders").document(session["client_reference_id"]),
            {
                "status": "checkout_pending",
                "totalCents": session["amount_total"],
                "currency": session["currency"].upper(),
                "createdAt": "2020-01-01T00:00:00Z",
            },
        )
    batch.commit()

    snapshot_capture(studio=studio, source=source_for(studio, "cloud"))
    outcome = reconciliation_run(studio=studio)

    # localstripe holds no objects at all here; the fixtures alone are the Stripe mirror.
    assert outcome.run.status == ReconciliationRun.Status.COMPLETE, outcome.run.reason
    by_order = {f["order_id"]: f for f in outcome.flags}
    assert set(by_order) == {s["client_reference_id"] for s in sessions}
    for session in sessions:
        flag = by_order[session["client_reference_id"]]
        assert flag["class"] == "checkout_stuck_pending"
        assert session["id"] in flag["evidence"]
