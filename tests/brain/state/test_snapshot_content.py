import random

from brain.state.diff import diff_metrics, diff_records
from brain.state.drift import drift_ratio, find_drift
from brain.state.snapshot import CollectionRead, MirrorEntry, compute_content, unsettled_payments
from brain.state.warnings import warning_text
from connectors.sdk.canonical import canonical_hash, canonical_json


def sample_firestore():
    return {
        "batches": {"b1": {"state": "CLOSED_FIRED"}, "b2": {"state": "GLAZING"}, "b3": {}},
        "reservations": {"r1": {"status": "CANCELLED"}, "r2": {}},
        "kilnFirings": {"f1": {"status": "firing"}, "f2": {"status": "done"}},
        "communityReports": {"c1": {"status": "resolved", "severity": "HIGH"}, "c2": {}},
        "trackerTickets": {"t1": {"blocked": True}, "t2": {"blocked": "true"}},
        "agentRequests": {"a1": {}, "a2": {"status": "done"}},
        "materialsOrders": {
            "o1": {"status": "paid", "stripePaymentIntentId": "pi_1"},
            "o2": {"status": "paid"},
            "o3": {"status": "checkout_pending"},
        },
    }


def sample_stripe():
    return {
        "payment_intents": [
            {"id": "pi_1", "status": "succeeded", "metadata": {"orderId": "o1"}},
            {"id": "pi_3", "status": "succeeded", "metadata": {"orderId": "o3"}},
        ],
        "checkout_sessions": [
            {"id": "cs_2", "client_reference_id": "o2", "payment_status": "unpaid"}
        ],
    }


def reads(error=None):
    return [
        CollectionRead("firestore", "batches", 3),
        CollectionRead("firestore", "reservations", 2, error=error),
    ]


def mirror(firestore):
    return [
        MirrorEntry("firestore", coll, doc_id, canonical_hash(fields))
        for coll, docs in firestore.items()
        for doc_id, fields in docs.items()
    ]


def test_content_counts_follow_the_domain_rules():
    fs = sample_firestore()
    content = compute_content(
        firestore=fs, stripe=sample_stripe(), reads=reads(), mirror=mirror(fs)
    )
    assert content["counts"] == {
        "batchesActive": 2,
        "batchesClosed": 1,
        "reservationsOpen": 1,
        "firingsScheduled": 1,
        "reportsOpen": 1,
    }
    assert content["ops"] == {
        "blockedTickets": 1,
        "agentRequestsPending": 1,
        "highSeverityReports": 1,
    }
    assert content["finance"] == {"pendingOrders": 1, "unsettledPayments": 2}
    assert content["diagnostics"]["completeness"] == "full"


def test_unsettled_payments_name_both_directions():
    fs = sample_firestore()
    assert unsettled_payments(fs["materialsOrders"], sample_stripe()) == [
        {"order_id": "o2", "class": "paid_not_settled"},
        {"order_id": "o3", "class": "settled_not_paid"},
    ]


def test_a_failed_read_makes_the_snapshot_partial_with_a_warning():
    fs = sample_firestore()
    content = compute_content(
        firestore=fs, stripe={}, reads=reads(error="UNAVAILABLE: peer down"), mirror=mirror(fs)
    )
    assert content["diagnostics"]["completeness"] == "partial"
    assert content["diagnostics"]["warnings"] == [
        {
            "code": "READ_FAILED",
            "source": "firestore",
            "collection": "reservations",
            "detail": "UNAVAILABLE: peer down",
        }
    ]
    assert [warning_text(w) for w in content["diagnostics"]["warnings"]] == [
        "firestore:reservations read failed: UNAVAILABLE: peer down"
    ]


def test_same_data_in_any_arrival_order_gives_identical_bytes():
    fs = sample_firestore()
    first = canonical_json(
        compute_content(firestore=fs, stripe=sample_stripe(), reads=reads(), mirror=mirror(fs))
    )
    rng = random.Random(7)
    for _ in range(5):
        shuffled = {}
        for coll in rng.sample(list(fs), len(fs)):
            items = list(fs[coll].items())
            rng.shuffle(items)
            shuffled[coll] = dict(items)
        entries = mirror(shuffled)
        rng.shuffle(entries)
        stripe = {k: rng.sample(v, len(v)) for k, v in sample_stripe().items()}
        again = compute_content(
            firestore=shuffled, stripe=stripe, reads=list(reversed(reads())), mirror=entries
        )
        assert canonical_json(again) == first


def test_a_changed_document_changes_the_source_hash():
    fs = sample_firestore()
    before = compute_content(firestore=fs, stripe={}, reads=[], mirror=mirror(fs))
    fs["batches"]["b2"] = {"state": "TRIMMING"}
    after = compute_content(firestore=fs, stripe={}, reads=[], mirror=mirror(fs))
    assert before["source_hashes"]["firestore"] != after["source_hashes"]["firestore"]
    assert before["counts"] == after["counts"]


def test_diff_metrics_lists_only_what_changed():
    before = {
        "counts": {"batchesActive": 2, "reportsOpen": 1},
        "ops": {},
        "finance": {"pendingOrders": 3},
    }
    after = {
        "counts": {"batchesActive": 5, "reportsOpen": 1},
        "ops": {},
        "finance": {"pendingOrders": 0},
    }
    assert diff_metrics(before, after) == {
        "counts.batchesActive": {"from": 2, "to": 5},
        "finance.pendingOrders": {"from": 3, "to": 0},
    }


def test_diff_records_counts_and_caps_examples():
    before = {("batches", f"b{i:03d}"): "h" for i in range(30)}
    after = dict(before)
    for i in range(25):
        after[("batches", f"b{i:03d}")] = "h2"
    del after[("batches", "b029")]
    after[("reservations", "r1")] = "x"
    changes = diff_records(before, after)
    assert changes["batches"]["changed"]["count"] == 25
    assert len(changes["batches"]["changed"]["examples"]) == 20
    assert changes["batches"]["changed"]["examples"][0] == "b000"
    assert changes["batches"]["removed"] == {"count": 1, "examples": ["b029"]}
    assert changes["reservations"]["added"] == {"count": 1, "examples": ["r1"]}


def test_drift_thresholds_including_expected_zero():
    assert drift_ratio(0, 0) == 0.0
    assert drift_ratio(0, 1) == 1.0
    found = find_drift(
        {"a": 100, "b": 100, "c": 0, "d": 4, "e": 10},
        {"a": 124, "b": 125, "c": 1, "d": 6, "e": 14},
        absolute=25,
        ratio=0.5,
    )
    assert [d.metric for d in found] == ["b", "c", "d"]
