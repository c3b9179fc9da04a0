"""The demo cloud's planted discrepancies are exactly what reconciliation finds, in every size,
and its look-alikes stay clean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brain.reconciliation.matcher import CLASSES, Order, reconcile
from brain.state.demo import SIZES, generate, iter_documents
from brain.state.sources import make_document
from connectors.firestore.schemas import FIELD_MASKS, apply_mask

# Any read time after the demo's last order (EPOCH + 80 days) and a day.
READ_AT = datetime(2026, 12, 1, tzinfo=UTC)


def mirrored(demo):
    """The demo as the mirror holds it: masked, normalized fields (what DemoSource reads)."""
    orders = []
    for path, fields, _created, updated in iter_documents(demo.firestore):
        collection, _, doc_id = path.rpartition("/")
        if collection in ("materialsOrders", "eventCharges"):
            masked = apply_mask(fields, FIELD_MASKS[collection])
            orders.append(
                Order(
                    collection,
                    doc_id,
                    make_document("firestore", collection, doc_id, masked, updated).data,
                )
            )
    stripe = {
        kind: [make_document("stripe", kind, o["id"], o, None).data for o in objects]
        for kind, objects in demo.stripe.items()
    }
    return orders, stripe


@pytest.mark.parametrize("size", sorted(SIZES))
def test_every_planted_discrepancy_is_found_and_nothing_else(size):
    demo = generate(studio="demo", size=size, seed=1)
    orders, stripe = mirrored(demo)
    result = reconcile(orders, stripe, stripe_read_at=READ_AT)

    found = {(flag.order.id, flag.flag_class) for flag in result.flags}
    expected = {(f["order_id"], f["class"]) for f in demo.manifest["reconciliation"]["flags"]}
    assert found == expected
    assert {name for _, name in expected} == set(CLASSES)  # one of each class, at least
    clean = {c["order_id"] for c in demo.manifest["reconciliation"]["clean"]}
    cases = {c["case"] for c in demo.manifest["reconciliation"]["clean"]}
    assert cases == {
        "partial_refund",
        "won_dispute",
        "warning_closed_dispute",
        "cancelled_with_expired_session",
        "status_and_currency_in_capitals",
    }
    assert clean and not clean & {order_id for order_id, _ in found}


def test_the_snapshot_rules_planted_kinds_keep_their_names():
    planted = generate(studio="demo", size="small", seed=1).manifest["planted"]
    assert {p["class"] for p in planted} >= {"paid_not_settled", "settled_not_paid"}
