"""The Firestore reader against the Python gRPC peer, through google-cloud-firestore."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from google.cloud import firestore

from connectors.firestore import client as firestore_client_module
from connectors.firestore.client import FirestoreReader
from connectors.firestore.connector import FirestoreConnector
from connectors.firestore.schemas import FIELD_MASKS, FirestoreSettings, apply_mask
from connectors.sdk.base import MemoryRecorder
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.schemas import ReadQuery, WriteIntent
from tests.peers.fixtures import FIRESTORE_PROJECT

FAST = {
    "timeout": 2.0,
    "retry_attempts": 3,
    "retry_wait_initial": 0.01,
    "retry_wait_max": 0.05,
    "retry_jitter": 0.0,
    "total_timeout": 10,
}
# Code-point order differs from naive expectations: upper case first, "10" before "9".
TRICKY_IDS = ["a", "B", "a b", "a-b", "ab", "10", "9", "Z", "z", "é", "~tilde", "A_1"]


def reader(**settings) -> FirestoreConnector:
    typed = FirestoreSettings.model_validate({"project": FIRESTORE_PROJECT, **FAST, **settings})
    return FirestoreConnector(instance="test-firestore", settings=typed, recorder=MemoryRecorder())


def documents(connector, collection, *, scan_limit=1000, **params):
    return connector.read(
        ReadQuery(
            resource="documents",
            params={"collection": collection, "scan_limit": scan_limit, **params},
        )
    )


def seed(client, path, docs):
    batch = client.batch()
    for doc_id, fields in docs.items():
        batch.set(client.collection(path).document(doc_id), fields)
    batch.commit()


def seed_batches(client, count, extra_ids=()):
    ids = list(extra_ids) + [f"batch{index:03d}" for index in range(count - len(extra_ids))]
    seed(
        client,
        "batches",
        {
            batch_id: {
                "state": "CLOSED_FIRED" if index % 3 == 0 else "GLAZING",
                "title": f"Set {index}",
                "ownerUid": f"u{index}",
                "privateNote": "never mirrored",
            }
            for index, batch_id in enumerate(ids)
        },
    )
    return ids


def test_pages_of_seven_return_every_document_once_in_id_order(firestore_client, firestore_peer):
    ids = seed_batches(firestore_client, 30, TRICKY_IDS)
    firestore_peer.reset_counters()

    result = documents(reader(page_size=7), "batches")

    assert [record.id for record in result.records] == sorted(ids)
    assert len({record.id for record in result.records}) == 30
    assert not result.truncated
    # 30 documents: four full pages and a short fifth one, which ends the walk.
    assert firestore_peer.calls["RunQuery"] == 5
    assert result.meta is not None and result.meta.attempts == 6  # 5 pages + the read-time anchor


def test_only_the_masked_fields_come_back(firestore_client):
    seed_batches(firestore_client, 9)
    seed(
        firestore_client,
        "delegations",
        {"d1": {"agent": "a1", "owner": "u1", "scopes": ["capability:*:execute"]}},
    )
    connector = reader(page_size=4)

    batches = documents(connector, "batches").records
    delegations = documents(connector, "delegations").records

    assert FIELD_MASKS["batches"] is not None
    assert {key for record in batches for key in record.fields} == {"state", "title", "ownerUid"}
    assert all("privateNote" not in record.fields for record in batches)
    # Collections without a mask are read whole, on purpose (agent identities).
    assert delegations[0].fields == {
        "agent": "a1",
        "owner": "u1",
        "scopes": ["capability:*:execute"],
    }


def test_a_collection_without_a_declared_mask_is_refused_before_any_request(firestore_peer):
    firestore_peer.reset_counters()
    with pytest.raises(ConnectorError) as caught:
        documents(reader(), "paymentsSecrets")
    assert caught.value.code == ErrorCode.UNKNOWN
    assert "no field mask" in caught.value.message
    assert sum(firestore_peer.calls.values()) == 0


def test_the_scan_limit_returns_the_first_documents_by_id_and_says_truncated(firestore_client):
    ids = seed_batches(firestore_client, 20)

    limited = documents(reader(page_size=7), "batches", scan_limit=12)
    exact = documents(reader(page_size=7), "batches", scan_limit=20)

    assert [record.id for record in limited.records] == sorted(ids)[:12]
    assert limited.truncated
    assert len(exact.records) == 20
    assert not exact.truncated


def test_subcollections_are_read_under_each_parent_in_parent_then_id_order(firestore_client):
    seed_batches(firestore_client, 4)
    for parent, count in (("batch002", 3), ("batch000", 2), ("batch003", 0)):
        seed(
            firestore_client,
            f"batches/{parent}/pieces",
            {f"p{index}": {"kind": "mug", "secretGlazeRecipe": "x"} for index in range(count)},
        )
    seed(firestore_client, "batches/batch000/timeline", {"t1": {"type": "created"}})

    pieces = documents(
        reader(page_size=2),
        "batches/*/pieces",
        parents=["batch003", "batch002", "batch001", "batch000"],
    )

    assert [(r.collection, r.id) for r in pieces.records] == [
        ("batches/batch000/pieces", "p0"),
        ("batches/batch000/pieces", "p1"),
        ("batches/batch002/pieces", "p0"),
        ("batches/batch002/pieces", "p1"),
        ("batches/batch002/pieces", "p2"),
    ]
    assert all(record.fields == {"kind": "mug"} for record in pieces.records)


def test_the_scan_limit_applies_to_the_whole_subcollection_group(firestore_client):
    seed_batches(firestore_client, 3)
    for parent in ("batch000", "batch001", "batch002"):
        seed(
            firestore_client,
            f"batches/{parent}/pieces",
            {f"p{i}": {"kind": "bowl"} for i in range(4)},
        )

    result = documents(
        reader(max_concurrency=2, page_size=3),
        "batches/*/pieces",
        parents=["batch000", "batch001", "batch002"],
        scan_limit=6,
    )

    assert result.truncated
    assert [(r.collection.split("/")[1], r.id) for r in result.records] == [
        ("batch000", "p0"),
        ("batch000", "p1"),
        ("batch000", "p2"),
        ("batch000", "p3"),
        ("batch001", "p0"),
        ("batch001", "p1"),
    ]


def test_every_query_of_a_read_runs_at_the_servers_read_time(firestore_client):
    seed_batches(firestore_client, 5)
    connector = reader(page_size=2)
    first = documents(connector, "batches")
    written = firestore_client.collection("batches").document("batch999").set({"state": "NEW"})

    at_first = documents(connector, "batches", read_time=first.read_at.isoformat())
    fresh = documents(connector, "batches")

    assert first.read_at < written.update_time <= fresh.read_at
    assert len(at_first.records) == 5  # the later write is not visible at the earlier read time
    assert at_first.read_at == first.read_at
    assert len(fresh.records) == 6


def test_a_server_that_ignores_the_cursor_fails_the_read_with_bad_response(
    firestore_client, firestore_peer
):
    seed_batches(firestore_client, 20)
    firestore_peer.reset_counters()
    # As the npm emulator does: every RunQuery answers the first page, whatever the cursor.
    firestore_peer.inject_fault("RunQuery", code=None, ignore_cursors=True, times=100)

    with pytest.raises(ConnectorError) as caught:
        documents(reader(page_size=7), "batches")

    assert caught.value.code == ErrorCode.BAD_RESPONSE
    assert not caught.value.transient
    assert "cursor did not advance" in caught.value.message
    assert firestore_peer.calls["RunQuery"] == 2  # the second page gave it away; no retries


def test_a_transient_failure_is_retried_and_a_broken_stream_rereads_only_its_page(
    firestore_client, firestore_peer
):
    ids = seed_batches(firestore_client, 20)
    firestore_peer.reset_counters()
    firestore_peer.inject_fault("RunQuery", code=grpc.StatusCode.UNAVAILABLE)
    firestore_peer.inject_fault("RunQuery", code=grpc.StatusCode.UNAVAILABLE, after_responses=3)

    result = documents(reader(page_size=7), "batches")

    assert [record.id for record in result.records] == sorted(ids)
    # Page 1 failed before any document, then broke after 3: two re-asks, then 3 pages.
    assert firestore_peer.calls["RunQuery"] == 2 + 3
    assert firestore_peer.faults_triggered == 2


def test_a_stalled_query_times_out_after_the_retries(firestore_client, firestore_peer):
    seed_batches(firestore_client, 3)
    firestore_peer.inject_fault("RunQuery", code=None, delay=0.6, times=3)

    with pytest.raises(ConnectorError) as caught:
        documents(reader(timeout=0.2, retry_attempts=2), "batches")

    assert caught.value.code == ErrorCode.TIMEOUT
    assert firestore_peer.calls["RunQuery"] == 2


def test_refused_credentials_fail_at_once_without_retries(firestore_client, firestore_peer):
    seed_batches(firestore_client, 3)
    firestore_peer.reset_counters()
    firestore_peer.inject_fault("*", code=grpc.StatusCode.PERMISSION_DENIED, times=10)

    with pytest.raises(ConnectorError) as caught:
        documents(reader(), "batches")

    assert caught.value.code == ErrorCode.AUTH
    assert sum(firestore_peer.calls.values()) == 1


def test_counts_cover_every_collection_at_one_read_time_including_empty_ones(firestore_client):
    seed_batches(firestore_client, 11)
    seed(firestore_client, "reservations", {f"r{i}": {"status": "BOOKED"} for i in range(3)})

    result = reader().read(
        ReadQuery(resource="counts", params={"collections": ["batches", "reservations", "kilns"]})
    )

    assert {r.collection: r.fields["count"] for r in result.records} == {
        "batches": 11,
        "reservations": 3,
        "kilns": 0,
    }
    assert isinstance(result.read_at, dt.datetime)


def test_reads_send_no_write_rpc(firestore_client, firestore_peer):
    seed_batches(firestore_client, 15)
    seed(firestore_client, "batches/batch001/pieces", {"p1": {"kind": "vase"}})
    firestore_peer.reset_counters()
    connector = reader(page_size=4)

    connector.health()
    documents(connector, "batches")
    documents(connector, "batches/*/pieces", parents=["batch001", "batch002"])
    connector.read(ReadQuery(resource="counts", params={"collections": ["batches"]}))

    assert firestore_peer.calls["RunQuery"] > 0
    assert firestore_peer.write_calls == 0


def test_the_reader_has_no_write_method_and_execute_is_refused(firestore_peer):
    public = {name for name in dir(FirestoreReader) if not name.startswith("_")}
    assert public == {"page", "count", "server_read_time", "collection_ids"}
    for connector in (
        reader(),
        FirestoreConnector(
            instance="test-firestore",
            settings=FirestoreSettings(project=FIRESTORE_PROJECT),
            read_only=False,
        ),
    ):
        with pytest.raises(ConnectorError):
            connector.execute(
                WriteIntent(
                    operation="ops_note.append", target="batches/b1", idempotency_key="k" * 8
                )
            )
    assert firestore_peer.write_calls == 0


def test_firestore_values_become_plain_values(firestore_client):
    when = dt.datetime(2026, 10, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    seed(
        firestore_client,
        "delegations",
        {
            "d1": {
                "issuedAt": when,
                "owner": firestore_client.document("users/u1"),
                "blob": b"\x00\x01",
                "where": firestore.GeoPoint(59.9, 10.7),
                "scopes": ["capability:a:execute", {"nested": when}],
                "count": 12.0,
            }
        },
    )

    [record] = documents(reader(), "delegations").records

    assert record.fields == {
        "issuedAt": when,
        "owner": "users/u1",
        "blob": "AAE=",
        "where": {"latitude": 59.9, "longitude": 10.7},
        "scopes": ["capability:a:execute", {"nested": when}],
        "count": 12.0,
    }
    assert type(record.fields["issuedAt"]) is dt.datetime


def test_health_lists_the_top_level_collections(firestore_client):
    seed_batches(firestore_client, 2)
    seed(firestore_client, "kilns", {"k1": {"name": "Kiln 1"}})

    report = reader().health()

    assert report.availability == "healthy"
    assert "2 top-level collections" in report.detail


def test_apply_mask_selects_what_a_select_query_returns():
    fields = {"state": "X", "note": "private", "meta": {"a": 1, "b": 2}}
    assert apply_mask(fields, ("state", "missing", "meta.a")) == {"state": "X", "meta": {"a": 1}}
    assert apply_mask(fields, None) == fields
    assert apply_mask(fields, ()) == {}


def test_no_client_retry_retries_nothing():
    # The explicit predicate is what keeps 2.34.1 from crashing on a broken stream.
    assert firestore_client_module.NO_CLIENT_RETRY._predicate(Exception()) is False
