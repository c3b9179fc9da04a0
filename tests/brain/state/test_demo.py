from datetime import UTC, datetime

from brain.state.demo import decode_value, encode_value, generate, iter_documents
from brain.state.snapshot import unsettled_payments
from connectors.sdk.canonical import canonical_json


def test_same_arguments_give_the_same_bytes_and_another_seed_does_not():
    first = generate(studio="demo", size="small", seed=3)
    again = generate(studio="demo", size="small", seed=3)
    other = generate(studio="demo", size="small", seed=4)
    assert canonical_json(first.firestore) == canonical_json(again.firestore)
    assert canonical_json(first.stripe) == canonical_json(again.stripe)
    assert canonical_json(first.firestore) != canonical_json(other.firestore)


def test_typed_values_round_trip():
    value = {
        "a": [1, 2.5, "x", None, True],
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "m": {"n": 1},
    }
    assert decode_value(encode_value(value)) == value


def test_small_demo_covers_every_collection_and_subcollections():
    demo = generate(studio="demo", size="small", seed=1)
    collections = {
        path.rsplit("/", 1)[0]
        if path.count("/") == 1
        else path.split("/")[0] + "/*/" + path.split("/")[2]
        for path, *_ in iter_documents(demo.firestore)
    }
    for name in (
        "batches",
        "batches/*/pieces",
        "reservations",
        "kilns",
        "kilnFirings",
        "communityReports",
        "trackerTickets",
        "agentRequests",
        "materialsOrders",
        "events",
        "eventSignups",
        "eventCharges",
        "profiles",
        "users",
    ):
        assert name in collections


def test_planted_payment_inconsistencies_are_found_by_the_snapshot_rule():
    demo = generate(studio="demo", size="small", seed=1)
    orders = {
        path.split("/")[1]: fields
        for path, fields, *_ in iter_documents(demo.firestore)
        if path.startswith("materialsOrders/")
    }
    found = {(item["order_id"], item["class"]) for item in unsettled_payments(orders, demo.stripe)}
    planted = {
        (p["order_id"], p["class"])
        for p in demo.manifest["planted"]
        if p["class"] in ("paid_not_settled", "settled_not_paid")
    }
    assert planted and planted <= found


def test_large_demo_has_at_least_100000_documents():
    demo = generate(studio="demo", size="large", seed=1)
    assert demo.manifest["documents"] >= 100_000
