"""The Firestore peer, proven through the stock google-cloud-firestore client only."""

import datetime as dt

import grpc
import httpx
import pytest
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry, if_exception_type
from google.cloud import firestore
from google.cloud.firestore import FieldFilter

from tests.peers.firestore_peer import FirestorePeer

# Ids chosen so that code-point order differs from naive expectations: upper case before
# lower case, "10" before "9", punctuation and non-ASCII.
TRICKY_IDS = ["a", "B", "a b", "a-b", "ab", "10", "9", "Z", "z", "é", "~tilde", "A_1"]


def seed_members(client: firestore.Client, count: int) -> list[str]:
    ids = TRICKY_IDS + [f"m{index:03d}" for index in range(count - len(TRICKY_IDS))]
    batch = client.batch()
    for index, member_id in enumerate(ids):
        batch.set(
            client.collection("members").document(member_id),
            {
                "displayName": f"Member {index}",
                "status": "active" if index % 3 else "lapsed",
                "credits": index,
                "tags": ["glaze"] if index % 4 == 0 else ["wheel"],
                "address": {"city": "Oslo" if index % 2 else "Bergen", "zip": f"{index:04d}"},
            },
        )
    batch.commit()
    return ids


def ids_of(snapshots) -> list[str]:
    return [snapshot.id for snapshot in snapshots]


def test_a_name_ordered_cursor_loop_returns_every_document_once_in_id_order(
    firestore_client, firestore_peer
):
    ids = seed_members(firestore_client, 23)
    firestore_peer.reset_counters()
    query = firestore_client.collection("members").order_by("__name__").limit(5)

    seen: list[str] = []
    pages = 0
    last = None
    for _ in range(10):  # bounded: a peer whose cursor does not advance must fail, not hang
        page = list((query.start_after(last) if last else query).stream())
        if not page:
            break
        pages += 1
        seen.extend(ids_of(page))
        last = page[-1]

    assert seen == sorted(ids)
    assert len(set(seen)) == 23
    assert pages == 5
    assert firestore_peer.calls["RunQuery"] == 6


def test_a_field_mask_returns_only_the_selected_fields_also_while_paging(firestore_client):
    seed_members(firestore_client, 15)
    query = (
        firestore_client.collection("members")
        .select(["status", "address.city"])
        .order_by("__name__")
        .limit(4)
    )

    documents = []
    last = None
    for _ in range(10):
        page = list((query.start_after(last) if last else query).stream())
        if not page:
            break
        documents.extend(page)
        last = page[-1]

    assert len(documents) == 15
    for snapshot in documents:
        assert set(snapshot.to_dict()) == {"status", "address"}
        assert set(snapshot.get("address")) == {"city"}


def test_an_empty_field_mask_returns_documents_without_fields(firestore_client):
    seed_members(firestore_client, 12)

    snapshots = list(firestore_client.collection("members").select([]).stream())

    assert len(snapshots) == 12
    assert all(snapshot.to_dict() == {} for snapshot in snapshots)


def test_field_filters_follow_firestore_semantics(firestore_client):
    members = firestore_client.collection("members")
    members.document("m1").set({"status": "active", "credits": 5, "tags": ["glaze", "wheel"]})
    members.document("m2").set({"status": "lapsed", "credits": 10, "tags": ["wheel"]})
    members.document("m3").set({"status": None, "credits": 15.5, "tags": []})
    members.document("m4").set({"credits": "twenty"})  # no status; a string, not a number

    def matching(*filters: FieldFilter) -> list[str]:
        query = members
        for field_filter in filters:
            query = query.where(filter=field_filter)
        return sorted(ids_of(query.stream()))

    assert matching(FieldFilter("status", "==", "active")) == ["m1"]
    # != skips documents whose field is missing or null.
    assert matching(FieldFilter("status", "!=", "active")) == ["m2"]
    assert matching(FieldFilter("status", "==", None)) == ["m3"]
    # Range filters only match numbers when the operand is a number; 10 == 10.0.
    assert matching(FieldFilter("credits", "<", 10)) == ["m1"]
    assert matching(FieldFilter("credits", "<=", 10.0)) == ["m1", "m2"]
    assert matching(FieldFilter("credits", ">", 5)) == ["m2", "m3"]
    assert matching(FieldFilter("credits", ">=", 15.5)) == ["m3"]
    assert matching(FieldFilter("credits", ">", "a")) == ["m4"]
    assert matching(FieldFilter("status", "in", ["active", "lapsed"])) == ["m1", "m2"]
    assert matching(FieldFilter("status", "not-in", ["active"])) == ["m2"]
    assert matching(FieldFilter("tags", "array_contains", "wheel")) == ["m1", "m2"]
    assert matching(FieldFilter("tags", "array_contains_any", ["glaze", "kiln"])) == ["m1"]
    assert matching(FieldFilter("status", "==", "active"), FieldFilter("credits", ">", 5)) == []
    both = firestore.And(
        [FieldFilter("tags", "array_contains", "wheel"), FieldFilter("credits", ">=", 10)]
    )
    assert sorted(ids_of(members.where(filter=both).stream())) == ["m2"]
    either = firestore.Or([FieldFilter("credits", "==", 5), FieldFilter("status", "==", None)])
    assert sorted(ids_of(members.where(filter=either).stream())) == ["m1", "m3"]


def test_a_name_filter_with_a_reference_bounds_the_ids(firestore_client):
    members = firestore_client.collection("members")
    for member_id in ["a", "b", "c", "d"]:
        members.document(member_id).set({"n": 1})

    after_b = members.where(filter=FieldFilter("__name__", ">", members.document("b")))

    assert ids_of(after_b.stream()) == ["c", "d"]


def test_ordering_by_a_field_breaks_ties_by_id_and_drops_documents_without_it(
    firestore_client,
):
    members = firestore_client.collection("members")
    members.document("c").set({"credits": 1})
    members.document("a").set({"credits": 1})
    members.document("b").set({"credits": 0})
    members.document("d").set({"other": True})

    ascending = members.order_by("credits").stream()
    descending = members.order_by("credits", direction=firestore.Query.DESCENDING).stream()

    assert ids_of(ascending) == ["b", "a", "c"]
    # The implicit __name__ order follows the direction of the last order.
    assert ids_of(descending) == ["c", "a", "b"]


def test_field_cursors_offset_and_limit_window_the_ordered_results(firestore_client):
    members = firestore_client.collection("members")
    for index in range(10):
        members.document(f"m{index}").set({"credits": index * 10})
    ordered = members.order_by("credits")

    assert ids_of(ordered.start_at({"credits": 30}).limit(2).stream()) == ["m3", "m4"]
    assert ids_of(ordered.start_after({"credits": 30}).limit(2).stream()) == ["m4", "m5"]
    assert ids_of(ordered.end_at({"credits": 20}).stream()) == ["m0", "m1", "m2"]
    assert ids_of(ordered.end_before({"credits": 20}).stream()) == ["m0", "m1"]
    assert ids_of(ordered.offset(7).stream()) == ["m7", "m8", "m9"]
    assert ids_of(ordered.start_at({"credits": 50}).offset(1).limit(2).stream()) == ["m6", "m7"]
    assert ids_of(ordered.limit_to_last(2).get()) == ["m8", "m9"]


def test_count_aggregations_count_all_or_only_the_filtered_documents(firestore_client):
    seed_members(firestore_client, 30)
    members = firestore_client.collection("members")

    everyone = members.count(alias="all").get()[0][0]
    active = members.where(filter=FieldFilter("status", "==", "active")).count().get()[0][0]
    empty = firestore_client.collection("nothing-here").count().get()[0][0]

    assert everyone.alias == "all"
    assert everyone.value == 30
    assert active.value == 20
    assert empty.value == 0
    assert isinstance(active.read_time, dt.datetime)


def test_sum_and_average_aggregate_numeric_fields(firestore_client):
    members = firestore_client.collection("members")
    for index, credits in enumerate([1, 2, 3.5]):
        members.document(f"m{index}").set({"credits": credits})
    members.document("m9").set({"credits": "not a number"})

    [[total], [mean]] = [members.sum("credits").get()[0], members.avg("credits").get()[0]]

    assert total.value == 6.5
    assert mean.value == pytest.approx(6.5 / 3)


def test_subcollection_queries_read_only_their_own_parent(firestore_client):
    batches = firestore_client.collection("batches")
    for batch_id, piece_count in [("b1", 3), ("b2", 2)]:
        batches.document(batch_id).set({"status": "firing"})
        for piece in range(piece_count):
            batches.document(batch_id).collection("pieces").document(f"p{piece}").set(
                {"batch": batch_id, "glazed": piece % 2 == 0}
            )

    b1_pieces = batches.document("b1").collection("pieces")
    every_piece = firestore_client.collection_group("pieces")

    assert ids_of(b1_pieces.order_by("__name__").stream()) == ["p0", "p1", "p2"]
    assert b1_pieces.count().get()[0][0].value == 3
    assert ids_of(batches.stream()) == ["b1", "b2"]
    assert len(list(every_piece.where(filter=FieldFilter("glazed", "==", True)).stream())) == 3
    assert sorted(collection.id for collection in batches.document("b1").collections()) == [
        "pieces"
    ]


def test_every_result_carries_one_server_read_time_not_before_the_last_write(firestore_client):
    seed_members(firestore_client, 14)
    written = firestore_client.collection("members").document("late").set({"n": 1})

    snapshots = list(firestore_client.collection("members").stream())
    later = list(firestore_client.collection("members").limit(1).stream())

    read_times = {snapshot.read_time for snapshot in snapshots}
    assert len(snapshots) == 15
    assert len(read_times) == 1
    assert read_times.pop() >= written.update_time
    assert later[0].read_time >= snapshots[0].read_time
    assert snapshots[0].update_time is not None
    assert snapshots[0].create_time is not None


def test_get_all_reports_found_and_missing_documents_with_a_read_time(firestore_client):
    members = firestore_client.collection("members")
    members.document("a").set({"n": 1, "secret": "x"})

    found, missing = sorted(
        firestore_client.get_all(
            [members.document("a"), members.document("gone")], field_paths=["n"]
        ),
        key=lambda snapshot: snapshot.id,
    )

    assert found.exists and found.to_dict() == {"n": 1}
    assert not missing.exists
    assert found.read_time is not None and missing.read_time is not None


def test_a_read_at_an_earlier_read_time_sees_the_data_as_it_was(firestore_client):
    document = firestore_client.collection("members").document("m1")
    document.set({"status": "active"})
    before = document.get().read_time
    document.update({"status": "lapsed"})
    firestore_client.collection("members").document("m2").set({"status": "new"})

    old_snapshot = document.get(read_time=before)
    old_query = list(firestore_client.collection("members").stream(read_time=before))

    assert old_snapshot.get("status") == "active"
    assert ids_of(old_query) == ["m1"]
    assert old_query[0].read_time == before
    assert document.get().get("status") == "lapsed"


def test_a_read_time_in_the_future_is_refused(firestore_client):
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)

    with pytest.raises(api_exceptions.InvalidArgument):
        list(firestore_client.collection("members").stream(read_time=future))


def test_a_deleted_document_leaves_queries_gets_and_counts(firestore_client):
    members = firestore_client.collection("members")
    members.document("keep").set({"n": 1})
    members.document("drop").set({"n": 2})

    members.document("drop").delete()

    assert ids_of(members.stream()) == ["keep"]
    assert not members.document("drop").get().exists
    assert members.count().get()[0][0].value == 1


def test_writes_keep_create_time_and_only_move_update_time_on_change(firestore_client):
    document = firestore_client.collection("members").document("m1")
    created = document.set({"status": "active", "credits": 1})
    unchanged = document.set({"status": "active", "credits": 1})
    bumped = document.update(
        {"credits": firestore.Increment(2), "seen": firestore.SERVER_TIMESTAMP}
    )
    document.set({"nested": {"a": 1}}, merge=True)

    snapshot = document.get()

    assert unchanged.update_time == created.update_time
    assert snapshot.create_time == created.update_time
    assert snapshot.update_time > created.update_time
    assert snapshot.get("credits") == 3
    assert snapshot.get("seen") == bumped.update_time
    assert snapshot.to_dict()["nested"] == {"a": 1}
    assert snapshot.get("status") == "active"


def test_array_and_extremum_transforms_apply_on_the_server(firestore_client):
    document = firestore_client.collection("members").document("m1")
    document.set({"tags": ["glaze", "wheel"], "best": 5, "worst": 5})

    document.update(
        {
            "tags": firestore.ArrayUnion(["kiln", "glaze"]),
            "best": firestore.Maximum(9),
            "worst": firestore.Minimum(7),
        }
    )
    document.update({"tags": firestore.ArrayRemove(["wheel"])})

    assert document.get().to_dict() == {"tags": ["glaze", "kiln"], "best": 9, "worst": 5}


def test_preconditions_refuse_updates_of_missing_and_creates_of_existing_documents(
    firestore_client, firestore_peer
):
    members = firestore_client.collection("members")
    members.document("m1").create({"n": 1})

    with pytest.raises(api_exceptions.NotFound):
        members.document("ghost").update({"n": 1})
    with pytest.raises(api_exceptions.Conflict):
        members.document("m1").create({"n": 2})
    assert firestore_peer.document_count() == 1


def test_a_failed_batch_writes_nothing(firestore_client, firestore_peer):
    members = firestore_client.collection("members")
    batch = firestore_client.batch()
    batch.set(members.document("new"), {"n": 1})
    batch.update(members.document("ghost"), {"n": 1})

    with pytest.raises(api_exceptions.NotFound):
        batch.commit()
    assert firestore_peer.document_count() == 0


def test_reset_clears_every_document(firestore_client, firestore_peer):
    seed_members(firestore_client, 12)
    assert firestore_peer.document_count() == 12

    firestore_peer.reset()

    assert list(firestore_client.collection("members").stream()) == []
    assert firestore_peer.document_count() == 0


def test_the_write_counter_counts_commits_and_not_reads(firestore_client, firestore_peer):
    members = firestore_client.collection("members")
    members.document("a").set({"n": 1})
    batch = firestore_client.batch()
    batch.set(members.document("b"), {"n": 2})
    batch.delete(members.document("a"))
    batch.commit()
    writes_after_setup = firestore_peer.write_calls

    list(members.stream())
    members.document("b").get()
    members.count().get()

    assert writes_after_setup == 2
    assert firestore_peer.write_calls == 2
    assert firestore_peer.calls["RunQuery"] == 1
    assert firestore_peer.calls["BatchGetDocuments"] == 1
    assert firestore_peer.calls["RunAggregationQuery"] == 1


def test_an_injected_unavailable_surfaces_as_service_unavailable_without_retry(
    firestore_client, firestore_peer
):
    firestore_client.collection("members").document("a").set({"n": 1})
    firestore_peer.inject_fault("RunQuery", code=grpc.StatusCode.UNAVAILABLE)

    with pytest.raises(api_exceptions.ServiceUnavailable):
        list(firestore_client.collection("members").stream(retry=None))

    assert ids_of(firestore_client.collection("members").stream(retry=None)) == ["a"]
    assert firestore_peer.faults_triggered == 1


def test_the_stock_client_retries_a_single_unavailable_by_default(firestore_client, firestore_peer):
    firestore_client.collection("members").document("a").set({"n": 1})
    firestore_peer.inject_fault("RunQuery", code=grpc.StatusCode.UNAVAILABLE)

    assert ids_of(firestore_client.collection("members").stream()) == ["a"]
    assert firestore_peer.calls["RunQuery"] == 2


def test_an_injected_deadline_exceeded_surfaces_as_deadline_exceeded(
    firestore_client, firestore_peer
):
    firestore_peer.inject_fault("RunAggregationQuery", code=grpc.StatusCode.DEADLINE_EXCEEDED)

    with pytest.raises(api_exceptions.DeadlineExceeded):
        firestore_client.collection("members").count().get(retry=None)


def test_a_stalled_call_hits_the_client_timeout(firestore_client, firestore_peer):
    firestore_peer.inject_fault("RunQuery", code=None, delay=2.0)

    with pytest.raises(api_exceptions.DeadlineExceeded):
        list(firestore_client.collection("members").stream(retry=None, timeout=0.2))


def test_a_stream_broken_after_some_documents_raises_midway(firestore_client, firestore_peer):
    seed_members(firestore_client, 12)
    firestore_peer.inject_fault("RunQuery", after_responses=5)
    received = []
    # Not retry=None: google-cloud-firestore 2.34.1 then fails with AttributeError on a
    # mid-stream error (it calls retry._predicate); a Retry that retries nothing works.
    no_retry = Retry(predicate=lambda error: False)

    with pytest.raises(api_exceptions.ServiceUnavailable):
        for snapshot in firestore_client.collection("members").stream(retry=no_retry):
            received.append(snapshot.id)

    assert len(received) == 5


def test_the_stock_client_resumes_a_broken_stream_after_the_last_document(
    firestore_client, firestore_peer
):
    ids = seed_members(firestore_client, 12)
    firestore_peer.inject_fault("RunQuery", after_responses=5)
    retry_unavailable = Retry(predicate=if_exception_type(api_exceptions.ServiceUnavailable))

    query = firestore_client.collection("members").order_by("__name__")
    received = ids_of(query.stream(retry=retry_unavailable))

    # The client re-queries with start_after(last document): the cursor must be honoured.
    assert received == sorted(ids)
    assert firestore_peer.calls["RunQuery"] == 2


def test_client_2_34_1_cannot_resume_a_broken_stream_with_its_default_retry(
    firestore_client, firestore_peer
):
    # A known defect of google-cloud-firestore 2.34.1 that the reader must work around by
    # passing an explicit Retry: the default looks up `transport.run_query._retry`, which the
    # plain gRPC transport does not have. If this starts passing, the workaround can go.
    seed_members(firestore_client, 12)
    firestore_peer.inject_fault("RunQuery", after_responses=5)

    with pytest.raises(AttributeError, match="_retry"):
        list(firestore_client.collection("members").stream())


def test_an_ignore_cursors_fault_repeats_the_first_page_like_the_npm_emulator(
    firestore_client, firestore_peer
):
    seed_members(firestore_client, 12)
    query = firestore_client.collection("members").order_by("__name__").limit(4)
    first = list(query.stream())
    firestore_peer.inject_fault("RunQuery", code=None, ignore_cursors=True)

    stuck = list(query.start_after(first[-1]).stream())
    moving = list(query.start_after(first[-1]).stream())

    assert ids_of(stuck) == ids_of(first)
    assert ids_of(moving) != ids_of(first)


def test_the_http_side_port_resets_injects_faults_and_reports_counters(
    firestore_client, firestore_peer
):
    firestore_client.collection("members").document("a").set({"n": 1})
    base = f"http://127.0.0.1:{firestore_peer.admin_port}"

    def call(method: str, path: str, body: dict | None = None) -> dict:
        response = httpx.request(method, base + path, json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    stats = call("GET", "/stats")
    call("POST", "/faults", {"method": "RunQuery", "code": "UNAVAILABLE", "times": 1})
    with pytest.raises(api_exceptions.ServiceUnavailable):
        list(firestore_client.collection("members").stream(retry=None))
    after_reset = call("POST", "/reset")

    assert stats["write_calls"] == 1
    assert stats["documents"] == 1
    assert after_reset["documents"] == 0
    assert after_reset["calls"] == {}


def test_the_peer_refuses_what_it_does_not_implement(firestore_client, firestore_peer):
    firestore_client.collection("members").document("a").set({"n": 1})

    with pytest.raises(api_exceptions.MethodNotImplemented):
        list(firestore_client.collection("members").list_documents())
    assert firestore_peer.calls["ListDocuments"] == 1


def test_one_peer_keeps_projects_apart(firestore_client, firestore_peer: FirestorePeer):
    other = firestore.Client(project="demo-other")
    try:
        other.collection("members").document("x").set({"n": 1})

        assert list(firestore_client.collection("members").stream()) == []
        assert ids_of(other.collection("members").stream()) == ["x"]
    finally:
        other.close()


# Transactions ---------------------------------------------------------------------------------


def test_a_transaction_reads_then_writes_atomically(firestore_client, firestore_peer):
    notes = firestore_client.collection("notes")

    @firestore.transactional
    def add_twice(transaction):
        snapshot = notes.document("n1").get(transaction=transaction)
        if snapshot.exists:
            return "replayed"
        transaction.create(notes.document("n1"), {"text": "first"})
        transaction.create(firestore_client.collection("actions").document("n1"), {"of": "n1"})
        return "created"

    assert add_twice(firestore_client.transaction()) == "created"
    assert add_twice(firestore_client.transaction()) == "replayed"
    assert notes.document("n1").get().to_dict() == {"text": "first"}
    assert firestore_peer.calls["BeginTransaction"] == 2
    assert firestore_peer.calls["Commit"] == 2  # the replay commits no writes
    assert firestore_peer.document_count() == 2
    assert firestore_peer.transactions == {}


def test_a_failed_transactional_create_writes_nothing_and_rolls_back(
    firestore_client, firestore_peer
):
    firestore_client.collection("notes").document("taken").set({"text": "already here"})

    @firestore.transactional
    def create_both(transaction):
        transaction.create(firestore_client.collection("actions").document("a1"), {"n": 1})
        transaction.create(firestore_client.collection("notes").document("taken"), {"n": 2})

    with pytest.raises(api_exceptions.Conflict):
        create_both(firestore_client.transaction())
    assert not firestore_client.collection("actions").document("a1").get().exists
    assert firestore_peer.calls["Rollback"] == 1
    assert firestore_peer.transactions == {}


def test_a_transaction_whose_read_changed_before_commit_is_aborted_and_retried(
    firestore_client, firestore_peer
):
    counter = firestore_client.collection("counters").document("c")
    counter.set({"n": 0})
    attempts = []

    @firestore.transactional
    def increment(transaction):
        value = counter.get(transaction=transaction).get("n")
        if not attempts:
            counter.set({"n": 100})  # another writer, between our read and our commit
        attempts.append(value)
        transaction.update(counter, {"n": value + 1})

    increment(firestore_client.transaction())
    assert attempts == [0, 100]
    assert counter.get().get("n") == 101


def test_reads_in_a_transaction_see_its_begin_time(firestore_client, firestore_peer):
    doc = firestore_client.collection("notes").document("late")
    transaction = firestore_client.transaction()
    transaction._begin()
    doc.set({"text": "written after the transaction began"})

    assert not doc.get(transaction=transaction).exists
    transaction._rollback()
    assert doc.get().exists


def test_a_commit_of_an_unknown_transaction_is_refused(firestore_client, firestore_peer):
    with pytest.raises(api_exceptions.InvalidArgument):
        firestore_client._firestore_api.commit(
            request={
                "database": firestore_client._database_string,
                "writes": [],
                "transaction": b"never-begun",
            }
        )
