"""A Firestore gRPC peer for tests, written on the message types google-cloud-firestore ships.

Why not the npm emulator: `@firestore-emulator/server` ignores query cursors and offsets, does
not sort by `__name__` and ignores `select()` field masks (see tests/peers/README.md), which are exactly
what the brain's reader relies on. Google's own emulator needs a jar this network cannot fetch.
So this module serves `google.firestore.v1.Firestore` over real gRPC on loopback, and the stock
client reaches it with `FIRESTORE_EMULATOR_HOST=127.0.0.1:<port>`.

Supported, with Firestore's documented semantics:

- `Commit`: `set` (with and without merge), `update`, `create`, `delete` from `doc.*()` and
  `client.batch()`; preconditions (`exists`, `update_time`); field transforms (server timestamp,
  increment, maximum, minimum, array union, array remove). The commit is atomic and gets one
  server commit time; `create_time` is kept across updates; a write that changes nothing keeps
  the previous `update_time`, as Firestore documents for `WriteResult.update_time`.
- `BatchGetDocuments` (`get`, `get_all`), with field masks and `read_time`.
- `RunQuery` over one collection under a parent (top level or a subcollection), or a collection
  group (`all_descendants`): field filters (`==, !=, <, <=, >, >=, in, not-in, array-contains,
  array-contains-any`), unary filters (null / NaN), composite AND / OR, `order_by` on fields and
  on `__name__`, the implicit order (inequality fields, then `__name__` in the direction of the
  last order), exclusion of documents missing an ordered field, cursors (`start_at`,
  `start_after`, `end_at`, `end_before`, reference values for `__name__`), `offset`, `limit`,
  `select` field masks, and a server `read_time` on every response.
- `RunAggregationQuery`: `count` (with `up_to`), `sum`, `avg`, filtered like `RunQuery`.
- `ListCollectionIds`.
- Point-in-time reads: every version of every document is kept, so a read at a `read_time`
  (microsecond precision, not in the future) sees the database as it was then.

- Transactions (`client.transaction()`, `@firestore.transactional`): `BeginTransaction`
  (read-write, or read-only at an optional `read_time`), reads inside a transaction
  (`BatchGetDocuments` / `RunQuery` / `RunAggregationQuery` with `transaction` or
  `new_transaction`), `Commit` with a transaction, `Rollback`. Optimistic, like the emulator:
  every read of a transaction sees the database at the transaction's begin time; the commit
  is refused with ABORTED (which the client retries) when a document the transaction read has
  been written since, otherwise its writes apply atomically with their preconditions
  (`create` of a document that exists is ALREADY_EXISTS). Query results are recorded as read
  documents, but phantoms (documents a query would now also match) are not detected. A
  transaction ends at its commit (successful or not) or rollback; rolling back one that has
  ended is accepted and does nothing, so the client's rollback after a failed commit does
  not hide the commit's error.

Not supported (answered with UNIMPLEMENTED or INVALID_ARGUMENT, never silently wrong):
`Listen` / `on_snapshot`, `ListDocuments`, `BatchWrite`, `PartitionQuery`, pipelines, vector
search, explain options.
Not modelled: indexes (every query is allowed), security rules, the one-hour limit on
`read_time` age, per-document write rate limits.

For tests: `reset()` clears everything; `inject_fault()` makes the next calls of a method fail,
stall, break mid-stream or ignore cursors; `calls` / `write_calls` count the RPCs received, so a
test can assert that a reader wrote nothing. The same controls are on an optional HTTP side port.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import itertools
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.cloud.firestore_v1 import types
from google.protobuf import empty_pb2, timestamp_pb2

SERVICE = "google.firestore.v1.Firestore"
WRITE_METHODS = frozenset(
    {"Commit", "BatchWrite", "CreateDocument", "UpdateDocument", "DeleteDocument", "Write"}
)
NAME_FIELD = "__name__"

# Raw protobuf classes behind the proto-plus wrappers: the query engine works on these because
# they are an order of magnitude faster than the wrappers on collections of 100k documents.
Document = types.Document.pb()
Value = types.Value.pb()
FieldFilter = types.StructuredQuery.FieldFilter.pb()
UnaryFilter = types.StructuredQuery.UnaryFilter.pb()
CompositeFilter = types.StructuredQuery.CompositeFilter.pb()
Direction = types.StructuredQuery.Direction
Timestamp = timestamp_pb2.Timestamp

FieldPath = tuple[str, ...]
SortKey = tuple[Any, ...]
DocumentPredicate = Callable[[Any], bool]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class RpcError(Exception):
    """A gRPC status the handler turns into `context.abort(code, message)`."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Fault:
    """A scripted misbehaviour for the next `times` calls of `method` (or "*" for any).

    `delay` seconds pass first; then, if `code` is set, the call fails with it, after
    `after_responses` stream messages have been sent (0: before any). `ignore_cursors` makes
    RunQuery drop cursors and offset, as the npm emulator does, so a reader's defence against a
    cursor that never advances can be proven.
    """

    method: str
    times: int = 1
    code: grpc.StatusCode | None = grpc.StatusCode.UNAVAILABLE
    delay: float = 0.0
    after_responses: int = 0
    ignore_cursors: bool = False


@dataclass
class PeerTransaction:
    """An open transaction: the time its reads see and the documents it has read."""

    read_ns: int
    read_only: bool
    reads: set[str] = field(default_factory=set)


class _Empty:
    """`google.protobuf.Empty` in the shape `_unary` expects of a proto-plus response type."""

    @staticmethod
    def wrap(message: Any) -> Any:
        return message

    @staticmethod
    def serialize(message: Any) -> bytes:
        return bytes(message.SerializeToString())


# ---------------------------------------------------------------------------------------------
# Values: Firestore's total order over types, field paths, document names


def _timestamp(ns: int) -> Any:
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def _timestamp_ns(timestamp: Any) -> int:
    return int(timestamp.seconds) * 1_000_000_000 + int(timestamp.nanos)


def value_key(value: Any) -> SortKey:
    """Sort key in Firestore's value order: null < bool < NaN < numbers < timestamps < strings
    < bytes < references < geo points < arrays < maps. The first element is the type rank, so
    two values are comparable by `<` in a filter only when their ranks are equal. Integers and
    doubles share a rank and compare numerically. Python compares `str` by code point, which is
    the UTF-8 byte order Firestore uses."""
    kind = value.WhichOneof("value_type")
    if kind == "null_value":
        return (0,)
    if kind == "boolean_value":
        return (1, value.boolean_value)
    if kind == "integer_value":
        return (3, value.integer_value)
    if kind == "double_value":
        number = value.double_value
        return (2,) if math.isnan(number) else (3, number)
    if kind == "timestamp_value":
        return (4, value.timestamp_value.seconds, value.timestamp_value.nanos)
    if kind == "string_value":
        return (5, value.string_value)
    if kind == "bytes_value":
        return (6, value.bytes_value)
    if kind == "reference_value":
        return _reference_key(value.reference_value)
    if kind == "geo_point_value":
        return (8, value.geo_point_value.latitude, value.geo_point_value.longitude)
    if kind == "array_value":
        return (9, tuple(value_key(element) for element in value.array_value.values))
    if kind == "map_value":
        fields = value.map_value.fields
        return (10, tuple((key, value_key(fields[key])) for key in sorted(fields)))
    raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported value type {kind!r}")


def _reference_key(name: str) -> SortKey:
    # References order segment by segment, so "a/b" sorts before "a-c" (as Firestore does),
    # which a plain string comparison would get wrong.
    return (7, tuple(name.split("/")))


@functools.lru_cache(maxsize=4096)
def split_field_path(path: str) -> FieldPath:
    """`a.b` → ("a", "b"); a backquoted segment (`` `a.b`.c ``) may hold dots and `\\`-escapes."""
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(path):
        char = path[index]
        if quoted and char == "\\" and index + 1 < len(path):
            current.append(path[index + 1])
            index += 2
            continue
        if char == "`":
            quoted = not quoted
        elif char == "." and not quoted:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    if quoted or "" in segments:
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid field path {path!r}")
    return tuple(segments)


def _split_document_name(name: str) -> tuple[str, str, str]:
    """`projects/p/databases/d/documents/a/1/b/2` → (parent, "b", "2"), or INVALID_ARGUMENT."""
    root, separator, path = name.partition("/documents/")
    segments = path.split("/")
    if (
        not separator
        or root.count("/") != 3
        or not root.startswith("projects/")
        or len(segments) % 2
        or "" in segments
    ):
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid document name {name!r}")
    parent, collection_id, document_id = name.rsplit("/", 2)
    return parent, collection_id, document_id


def _check_parent(parent: str) -> None:
    root, _, rest = parent.partition("/documents")
    if root.count("/") != 3 or not root.startswith("projects/"):
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid parent {parent!r}")
    if rest:
        _split_document_name(parent)


def field_value(document: Any, path: FieldPath) -> Any | None:
    """The value at `path` in a document, `__name__` as a reference, or None when absent."""
    if path == (NAME_FIELD,):
        return Value(reference_value=document.name)
    return _lookup(document.fields, path)


def _lookup(fields: Any, path: FieldPath) -> Any | None:
    for segment in path[:-1]:
        nested = fields.get(segment)
        if nested is None or nested.WhichOneof("value_type") != "map_value":
            return None
        fields = nested.map_value.fields
    return fields.get(path[-1])


def _set_field(fields: Any, path: FieldPath, value: Any) -> None:
    for segment in path[:-1]:
        nested = fields[segment]
        if nested.WhichOneof("value_type") != "map_value":
            nested.Clear()
            nested.map_value.SetInParent()
        fields = nested.map_value.fields
    fields[path[-1]].CopyFrom(value)


def _delete_field(fields: Any, path: FieldPath) -> None:
    for segment in path[:-1]:
        nested = fields.get(segment)
        if nested is None or nested.WhichOneof("value_type") != "map_value":
            return
        fields = nested.map_value.fields
    if path[-1] in fields:
        del fields[path[-1]]


def _project(document: Any, field_paths: Iterable[str]) -> Any:
    """A copy of the document carrying only the masked fields (`__name__` selects none)."""
    projected = Document(
        name=document.name, create_time=document.create_time, update_time=document.update_time
    )
    for raw_path in field_paths:
        path = split_field_path(raw_path)
        if path == (NAME_FIELD,):
            continue
        value = field_value(document, path)
        if value is not None:
            _set_field(projected.fields, path, value)
    return projected


# ---------------------------------------------------------------------------------------------
# Queries: filters, ordering, cursors

_INEQUALITY_FIELD_OPERATORS = frozenset(
    {
        FieldFilter.LESS_THAN,
        FieldFilter.LESS_THAN_OR_EQUAL,
        FieldFilter.GREATER_THAN,
        FieldFilter.GREATER_THAN_OR_EQUAL,
        FieldFilter.NOT_EQUAL,
        FieldFilter.NOT_IN,
    }
)
_INEQUALITY_UNARY_OPERATORS = frozenset({UnaryFilter.IS_NOT_NAN, UnaryFilter.IS_NOT_NULL})
_RANGE_TESTS: dict[int, Callable[[SortKey, SortKey], bool]] = {
    FieldFilter.LESS_THAN: lambda found, wanted: found < wanted,
    FieldFilter.LESS_THAN_OR_EQUAL: lambda found, wanted: found <= wanted,
    FieldFilter.GREATER_THAN: lambda found, wanted: found > wanted,
    FieldFilter.GREATER_THAN_OR_EQUAL: lambda found, wanted: found >= wanted,
}
_NULL_KEY: SortKey = (0,)


def _array_keys(value: Any) -> list[SortKey] | None:
    if value is None or value.WhichOneof("value_type") != "array_value":
        return None
    return [value_key(element) for element in value.array_value.values]


def _compile_field_filter(field_filter: Any, inequalities: set[FieldPath]) -> DocumentPredicate:
    path = split_field_path(field_filter.field.field_path)
    operator = field_filter.op
    wanted = field_filter.value
    if operator in _INEQUALITY_FIELD_OPERATORS:
        inequalities.add(path)
    if operator in (FieldFilter.IN, FieldFilter.NOT_IN, FieldFilter.ARRAY_CONTAINS_ANY):
        if wanted.WhichOneof("value_type") != "array_value":
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "in / not-in need an array value")
        operands = list(wanted.array_value.values)
    else:
        operands = [wanted]
    if path == (NAME_FIELD,):
        for operand in operands:
            if operand.WhichOneof("value_type") != "reference_value":
                raise RpcError(
                    grpc.StatusCode.INVALID_ARGUMENT, "__name__ filter values must be references"
                )
    keys = {value_key(operand) for operand in operands}
    wanted_key = value_key(wanted)

    def found_key(document: Any) -> SortKey | None:
        value = field_value(document, path)
        return None if value is None else value_key(value)

    if operator == FieldFilter.EQUAL:
        return lambda document: found_key(document) == wanted_key
    if operator == FieldFilter.NOT_EQUAL:
        # Neither != nor not-in matches a document whose field is missing or null.
        return lambda document: found_key(document) not in (None, _NULL_KEY, wanted_key)
    if operator == FieldFilter.IN:
        return lambda document: found_key(document) in keys
    if operator == FieldFilter.NOT_IN:

        def not_in(document: Any) -> bool:
            key = found_key(document)
            return key is not None and key != _NULL_KEY and key not in keys

        return not_in
    if operator in _RANGE_TESTS:
        test = _RANGE_TESTS[operator]

        def in_range(document: Any) -> bool:
            # Range filters only match values of the same type rank as the operand.
            key = found_key(document)
            return key is not None and key[0] == wanted_key[0] and test(key, wanted_key)

        return in_range
    if operator in (FieldFilter.ARRAY_CONTAINS, FieldFilter.ARRAY_CONTAINS_ANY):

        def array_contains(document: Any) -> bool:
            elements = _array_keys(field_value(document, path))
            return elements is not None and any(element in keys for element in elements)

        return array_contains
    raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported field operator {operator}")


def _compile_unary_filter(unary_filter: Any, inequalities: set[FieldPath]) -> DocumentPredicate:
    path = split_field_path(unary_filter.field.field_path)
    operator = unary_filter.op
    if operator in _INEQUALITY_UNARY_OPERATORS:
        inequalities.add(path)

    def found_key(document: Any) -> SortKey | None:
        value = field_value(document, path)
        return None if value is None else value_key(value)

    nan_key: SortKey = (2,)
    if operator == UnaryFilter.IS_NAN:
        return lambda document: found_key(document) == nan_key
    if operator == UnaryFilter.IS_NULL:
        return lambda document: found_key(document) == _NULL_KEY
    if operator == UnaryFilter.IS_NOT_NAN:
        return lambda document: found_key(document) not in (None, _NULL_KEY, nan_key)
    if operator == UnaryFilter.IS_NOT_NULL:
        return lambda document: found_key(document) not in (None, _NULL_KEY)
    raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported unary operator {operator}")


def compile_filter(query_filter: Any, inequalities: set[FieldPath]) -> DocumentPredicate:
    """A predicate over stored documents; inequality field paths are collected on the way,
    because they join the query's implicit order."""
    kind = query_filter.WhichOneof("filter_type")
    if kind == "field_filter":
        return _compile_field_filter(query_filter.field_filter, inequalities)
    if kind == "unary_filter":
        return _compile_unary_filter(query_filter.unary_filter, inequalities)
    if kind == "composite_filter":
        parts = [
            compile_filter(part, inequalities) for part in query_filter.composite_filter.filters
        ]
        if query_filter.composite_filter.op == CompositeFilter.AND:
            return lambda document: all(part(document) for part in parts)
        if query_filter.composite_filter.op == CompositeFilter.OR:
            return lambda document: any(part(document) for part in parts)
    raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "unsupported filter")


def effective_orders(query: Any, inequalities: set[FieldPath]) -> list[tuple[FieldPath, bool]]:
    """(field path, descending) pairs: the explicit orders, then inequality fields not already
    ordered (in lexicographic order of the field path), then `__name__`, each appended with the
    direction of the last explicit order, as the `StructuredQuery.order_by` contract says."""
    orders = [
        (split_field_path(order.field.field_path), order.direction == Direction.DESCENDING)
        for order in query.order_by
    ]
    descending = orders[-1][1] if orders else False
    ordered = {path for path, _ in orders}
    for path in sorted(inequalities - ordered, key=".".join):
        orders.append((path, descending))
    if (NAME_FIELD,) not in ordered:
        orders.append(((NAME_FIELD,), descending))
    return orders


def _order_keys(document: Any, orders: list[tuple[FieldPath, bool]]) -> list[SortKey] | None:
    """The document's sort keys, or None when it lacks an ordered field (Firestore omits it)."""
    keys = []
    for path, _ in orders:
        if path == (NAME_FIELD,):
            keys.append(_reference_key(document.name))
            continue
        value = field_value(document, path)
        if value is None:
            return None
        keys.append(value_key(value))
    return keys


def _compare_to_cursor(
    keys: list[SortKey], cursor: list[SortKey], orders: list[tuple[FieldPath, bool]]
) -> int:
    for key, bound, (_, descending) in zip(keys, cursor, orders, strict=False):
        if key != bound:
            result = -1 if key < bound else 1
            return -result if descending else result
    return 0


def _cursor_keys(cursor: Any, orders: list[tuple[FieldPath, bool]]) -> list[SortKey]:
    if len(cursor.values) > len(orders):
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "too many cursor values for the order")
    keys = []
    for value, (path, _) in zip(cursor.values, orders, strict=False):
        if path == (NAME_FIELD,) and value.WhichOneof("value_type") != "reference_value":
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT, "a __name__ cursor value must be a reference"
            )
        keys.append(value_key(value))
    return keys


# ---------------------------------------------------------------------------------------------
# Storage: every version of every document, so reads at a past read_time are exact


@dataclass
class _Collection:
    document_ids: set[str]
    sorted_ids: list[str] | None = None

    def ordered_ids(self) -> list[str]:
        if self.sorted_ids is None:
            self.sorted_ids = sorted(self.document_ids)
        return self.sorted_ids


class FirestoreState:
    """Documents and their history; queries evaluated at a read time. Not thread-safe alone:
    `FirestorePeer` serialises access with one lock."""

    def __init__(self) -> None:
        # name → [(time_ns, document or None when deleted)], in time order.
        self.versions: dict[str, list[tuple[int, Any]]] = {}
        self.collections: dict[tuple[str, str], _Collection] = {}
        self.clock_ns = 0

    def reset(self) -> None:
        self.versions.clear()
        self.collections.clear()

    # Clock: microsecond times; a commit is always later than any read time already handed
    # out, so a read at time T is repeatable.
    def read_time_ns(self) -> int:
        self.clock_ns = max(self.clock_ns, time.time_ns() // 1000 * 1000)
        return self.clock_ns

    def commit_time_ns(self) -> int:
        self.clock_ns = max(self.clock_ns + 1000, time.time_ns() // 1000 * 1000)
        return self.clock_ns

    def document_at(self, name: str, read_ns: int) -> Any | None:
        history = self.versions.get(name)
        if not history:
            return None
        if history[-1][0] <= read_ns:
            return history[-1][1]
        index = bisect.bisect_right(history, read_ns, key=lambda version: version[0])
        return history[index - 1][1] if index else None

    def live_count(self) -> int:
        return sum(1 for history in self.versions.values() if history[-1][1] is not None)

    def store(self, name: str, document: Any | None, time_ns: int) -> None:
        self.versions.setdefault(name, []).append((time_ns, document))
        parent, collection_id, document_id = _split_document_name(name)
        collection = self.collections.setdefault((parent, collection_id), _Collection(set()))
        if document_id not in collection.document_ids:
            collection.document_ids.add(document_id)
            collection.sorted_ids = None

    # -- queries -------------------------------------------------------------------------

    def run_query(
        self, parent: str, query: Any, read_ns: int, *, ignore_cursors: bool = False
    ) -> tuple[list[Any], int]:
        """Matching documents (before projection) and how many `offset` skipped."""
        _check_parent(parent)
        if len(query.from_) != 1:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "a query needs exactly one from")
        if query.HasField("find_nearest"):
            raise RpcError(grpc.StatusCode.UNIMPLEMENTED, "vector search is not supported")
        if query.offset < 0 or (query.HasField("limit") and query.limit.value < 0):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "offset and limit must be >= 0")
        inequalities: set[FieldPath] = set()
        predicate = compile_filter(query.where, inequalities) if query.HasField("where") else None
        orders = effective_orders(query, inequalities)
        use_start = query.HasField("start_at") and not ignore_cursors
        use_end = query.HasField("end_at") and not ignore_cursors
        start_keys = _cursor_keys(query.start_at, orders) if use_start else None
        end_keys = _cursor_keys(query.end_at, orders) if use_end else None
        offset = 0 if ignore_cursors else query.offset
        limit = query.limit.value if query.HasField("limit") else None

        ordered = self._ordered_candidates(
            parent, query.from_[0], orders, predicate, start_keys, read_ns
        )
        results: list[Any] = []
        skipped = 0
        for keys, document in ordered:
            if start_keys is not None:
                position = _compare_to_cursor(keys, start_keys, orders)
                if position < 0 or (position == 0 and not query.start_at.before):
                    continue
            if end_keys is not None:
                position = _compare_to_cursor(keys, end_keys, orders)
                if position > 0 or (position == 0 and query.end_at.before):
                    break
            if skipped < offset:
                skipped += 1
                continue
            if limit is not None and len(results) >= limit:
                break
            results.append(document)
        return results, skipped

    def _ordered_candidates(
        self,
        parent: str,
        selector: Any,
        orders: list[tuple[FieldPath, bool]],
        predicate: DocumentPredicate | None,
        start_keys: list[SortKey] | None,
        read_ns: int,
    ) -> Iterator[tuple[list[SortKey], Any]]:
        """(sort keys, document) pairs in query order, filtered.

        The common reader query (one collection ordered by `__name__` ascending, with a
        `start_after` on the last id) walks the sorted ids from a bisected position, so paging
        through a large collection costs O(page), not O(collection) per page."""
        if orders == [((NAME_FIELD,), False)] and not selector.all_descendants:
            collection = self.collections.get((parent, selector.collection_id))
            if collection is None:
                return
            ids = collection.ordered_ids()
            prefix = f"{parent}/{selector.collection_id}/"
            first = 0
            if start_keys:
                first = bisect.bisect_left(
                    ids, start_keys[0], key=lambda document_id: _reference_key(prefix + document_id)
                )
            for document_id in ids[first:]:
                document = self.document_at(prefix + document_id, read_ns)
                if document is not None and (predicate is None or predicate(document)):
                    yield [_reference_key(document.name)], document
            return

        candidates: list[tuple[list[SortKey], Any]] = []
        for document in self._documents_in(parent, selector, read_ns):
            if predicate is not None and not predicate(document):
                continue
            keys = _order_keys(document, orders)
            if keys is not None:
                candidates.append((keys, document))
        # Stable sorts from the last order to the first give a mixed-direction multi-key sort.
        for index in reversed(range(len(orders))):
            candidates.sort(key=lambda candidate: candidate[0][index], reverse=orders[index][1])
        yield from candidates

    def _documents_in(self, parent: str, selector: Any, read_ns: int) -> Iterator[Any]:
        if not selector.all_descendants:
            collection = self.collections.get((parent, selector.collection_id))
            names = (
                (
                    f"{parent}/{selector.collection_id}/{document_id}"
                    for document_id in collection.document_ids
                )
                if collection
                else iter(())
            )
        else:
            names = (
                f"{collection_parent}/{collection_id}/{document_id}"
                for (collection_parent, collection_id), collection in self.collections.items()
                if collection_id == selector.collection_id
                and (collection_parent == parent or collection_parent.startswith(parent + "/"))
                for document_id in collection.document_ids
            )
        for name in names:
            document = self.document_at(name, read_ns)
            if document is not None:
                yield document

    def collection_ids(self, parent: str, read_ns: int) -> list[str]:
        _check_parent(parent)
        return sorted(
            collection_id
            for (collection_parent, collection_id), collection in self.collections.items()
            if collection_parent == parent
            and any(
                self.document_at(f"{parent}/{collection_id}/{document_id}", read_ns) is not None
                for document_id in collection.document_ids
            )
        )

    # -- writes --------------------------------------------------------------------------

    def commit(self, writes: Iterable[Any]) -> tuple[list[Any], int]:
        """Apply writes atomically at one commit time: all succeed or none is stored."""
        commit_ns = self.commit_time_ns()
        staged: dict[str, Any | None] = {}
        results = [self._apply_write(write, commit_ns, staged) for write in writes]
        for name, document in staged.items():
            if document is not self.document_at(name, commit_ns):
                self.store(name, document, commit_ns)
        return results, commit_ns

    def _apply_write(self, write: Any, commit_ns: int, staged: dict[str, Any | None]) -> Any:
        operation = write.WhichOneof("operation")
        if operation == "update":
            name = write.update.name
        elif operation == "delete":
            name = write.delete
        elif operation == "transform":
            name = write.transform.document
        else:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "a write needs an operation")
        _split_document_name(name)
        current = staged[name] if name in staged else self.document_at(name, commit_ns)
        _check_precondition(write, current, name)
        if operation == "delete":
            staged[name] = None
            return types.WriteResult.pb()()

        updated = Document(name=name)
        if current is not None:
            updated.fields.MergeFrom(current.fields)
        if operation == "update" and write.HasField("update_mask"):
            for raw_path in write.update_mask.field_paths:
                path = split_field_path(raw_path)
                value = field_value(write.update, path)
                if value is None:
                    _delete_field(updated.fields, path)
                else:
                    _set_field(updated.fields, path, value)
        elif operation == "update":
            updated.ClearField("fields")
            updated.fields.MergeFrom(write.update.fields)
        transforms = (
            write.update_transforms if operation == "update" else write.transform.field_transforms
        )
        transform_results = [
            _apply_transform(updated.fields, transform, commit_ns) for transform in transforms
        ]
        if current is not None and current.fields == updated.fields:
            # Firestore: "If the write did not actually change the document, this will be the
            # previous update_time."
            staged[name] = current
            update_time = current.update_time
        else:
            updated.create_time.CopyFrom(
                current.create_time if current is not None else _timestamp(commit_ns)
            )
            updated.update_time.CopyFrom(_timestamp(commit_ns))
            staged[name] = updated
            update_time = updated.update_time
        return types.WriteResult.pb()(update_time=update_time, transform_results=transform_results)


def _check_precondition(write: Any, current: Any | None, name: str) -> None:
    if not write.HasField("current_document"):
        return
    precondition = write.current_document
    kind = precondition.WhichOneof("condition_type")
    if kind == "exists" and precondition.exists and current is None:
        raise RpcError(grpc.StatusCode.NOT_FOUND, f"No document to update: {name}")
    if kind == "exists" and not precondition.exists and current is not None:
        raise RpcError(grpc.StatusCode.ALREADY_EXISTS, f"Document already exists: {name}")
    if kind == "update_time" and (
        current is None or current.update_time != precondition.update_time
    ):
        raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, f"update_time mismatch: {name}")


def _number(value: Any | None) -> int | float | None:
    if value is None:
        return None
    kind = value.WhichOneof("value_type")
    if kind == "integer_value":
        return int(value.integer_value)
    if kind == "double_value":
        return float(value.double_value)
    return None


def _number_value(number: int | float) -> Any:
    if isinstance(number, int):
        return Value(integer_value=max(INT64_MIN, min(INT64_MAX, number)))
    return Value(double_value=number)


def _apply_transform(fields: Any, transform: Any, commit_ns: int) -> Any:
    """Apply one field transform in place and return the value it produced."""
    path = split_field_path(transform.field_path)
    current = _lookup(fields, path)
    kind = transform.WhichOneof("transform_type")
    operand: Any = getattr(transform, kind) if kind else None
    if kind == "set_to_server_value":
        result = Value(timestamp_value=_timestamp(commit_ns))
    elif kind in ("increment", "maximum", "minimum"):
        base, change = _number(current), _number(operand)
        if change is None:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"{kind} needs a number")
        if base is None:
            result = operand
        elif kind == "increment":
            total = base + change
            # Integer + double is a double; integer overflow saturates, as documented.
            result = _number_value(
                float(total) if isinstance(base, float) or isinstance(change, float) else total
            )
        else:
            pick = max if kind == "maximum" else min
            result = current if pick(base, change) == base else operand
    elif kind in ("append_missing_elements", "remove_all_from_array"):
        elements = (
            list(current.array_value.values)
            if current is not None and current.WhichOneof("value_type") == "array_value"
            else []
        )
        operand_keys = {value_key(element) for element in operand.values}
        if kind == "append_missing_elements":
            present = {value_key(element) for element in elements}
            for element in operand.values:
                if value_key(element) not in present:
                    elements.append(element)
                    present.add(value_key(element))
        else:
            elements = [element for element in elements if value_key(element) not in operand_keys]
        result = Value(array_value=types.ArrayValue.pb()(values=elements))
    else:
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported transform {kind!r}")
    _set_field(fields, path, result)
    return result


def aggregate(documents: list[Any], aggregation: Any) -> Any:
    """The value of one `count` / `sum` / `avg` aggregation over the matching documents."""
    kind = aggregation.WhichOneof("operator")
    if kind == "count":
        count = len(documents)
        if aggregation.count.HasField("up_to"):
            count = min(count, aggregation.count.up_to.value)
        return Value(integer_value=count)
    if kind not in ("sum", "avg"):
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "unsupported aggregation")
    path = split_field_path(getattr(aggregation, kind).field.field_path)
    numbers = [
        number
        for number in (_number(field_value(document, path)) for document in documents)
        if number is not None
    ]
    if kind == "avg":
        if not numbers:
            return Value(null_value=0)
        return Value(double_value=math.fsum(numbers) / len(numbers))
    if all(isinstance(number, int) for number in numbers):
        total = sum(numbers)
        if INT64_MIN <= total <= INT64_MAX:
            return Value(integer_value=int(total))
    return Value(double_value=math.fsum(numbers))


# ---------------------------------------------------------------------------------------------
# The gRPC service


class FirestorePeer(grpc.GenericRpcHandler):
    """The Firestore service plus the test controls; one lock guards the state."""

    def __init__(self) -> None:
        self.state = FirestoreState()
        self.calls: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self.faults_triggered = 0
        self.transactions: dict[bytes, PeerTransaction] = {}
        self._transaction_ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: grpc.Server | None = None
        self._admin: ThreadingHTTPServer | None = None
        self.port = 0
        self.admin_port: int | None = None
        self._handlers = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Commit": self._unary(
                    "Commit", self._commit, types.CommitRequest, types.CommitResponse
                ),
                "BeginTransaction": self._unary(
                    "BeginTransaction",
                    self._begin_transaction,
                    types.BeginTransactionRequest,
                    types.BeginTransactionResponse,
                ),
                "Rollback": self._unary("Rollback", self._rollback, types.RollbackRequest, _Empty),
                "BatchGetDocuments": self._stream(
                    "BatchGetDocuments",
                    self._batch_get_documents,
                    types.BatchGetDocumentsRequest,
                    types.BatchGetDocumentsResponse,
                ),
                "RunQuery": self._stream(
                    "RunQuery", self._run_query, types.RunQueryRequest, types.RunQueryResponse
                ),
                "RunAggregationQuery": self._stream(
                    "RunAggregationQuery",
                    self._run_aggregation_query,
                    types.RunAggregationQueryRequest,
                    types.RunAggregationQueryResponse,
                ),
                "ListCollectionIds": self._unary(
                    "ListCollectionIds",
                    self._list_collection_ids,
                    types.ListCollectionIdsRequest,
                    types.ListCollectionIdsResponse,
                ),
            },
        )

    # -- test controls -------------------------------------------------------------------

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def write_calls(self) -> int:
        """Write RPCs received (Commit, BatchWrite, …), including refused and unimplemented ones."""
        with self._lock:
            return sum(self.calls[method] for method in WRITE_METHODS)

    def reset(self) -> None:
        """Forget all documents, faults and counters."""
        with self._lock:
            self.state.reset()
            self.faults.clear()
            self.faults_triggered = 0
            self.calls.clear()
            self.transactions.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faults_triggered = 0

    def inject_fault(
        self,
        method: str,
        *,
        times: int = 1,
        code: grpc.StatusCode | None = grpc.StatusCode.UNAVAILABLE,
        delay: float = 0.0,
        after_responses: int = 0,
        ignore_cursors: bool = False,
    ) -> Fault:
        """Script the next `times` calls of `method` ("RunQuery", …, or "*"); see `Fault`."""
        fault = Fault(method, times, code, delay, after_responses, ignore_cursors)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def document_count(self) -> int:
        with self._lock:
            return self.state.live_count()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "write_calls": sum(self.calls[method] for method in WRITE_METHODS),
                "faults_pending": sum(fault.times for fault in self.faults),
                "faults_triggered": self.faults_triggered,
                "documents": self.state.live_count(),
            }

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method in (method, "*") and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    self.faults_triggered += 1
                    return fault
        return None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, port: int = 0, *, admin_port: int | None = None) -> str:
        """Serve on 127.0.0.1 (port 0 picks a free one); return "127.0.0.1:<port>"."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        server.add_generic_rpc_handlers((self,))
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        self._server = server
        if admin_port is not None:
            self._admin = ThreadingHTTPServer(("127.0.0.1", admin_port), _admin_handler(self))
            self.admin_port = self._admin.server_address[1]
            threading.Thread(target=self._admin.serve_forever, daemon=True).start()
        return self.host_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
        if self._admin is not None:
            self._admin.shutdown()
            self._admin.server_close()
            self._admin = None

    # -- gRPC plumbing -------------------------------------------------------------------

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Count every call, including those this peer does not implement (gRPC answers those
        with UNIMPLEMENTED), so an attempted write is visible in `write_calls`."""
        prefix = f"/{SERVICE}/"
        method_name: str = handler_call_details.method
        if method_name.startswith(prefix):
            with self._lock:
                self.calls[method_name.removeprefix(prefix)] += 1
        return self._handlers.service(handler_call_details)

    def _unary(
        self, method: str, handle: Callable[[Any], Any], request_type: Any, response_type: Any
    ) -> Any:
        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            fault = self._take_fault(method)
            if fault is not None:
                time.sleep(fault.delay)
                if fault.code is not None:
                    context.abort(fault.code, f"injected fault on {method}")
            try:
                return response_type.wrap(handle(request_type.pb(request)))
            except RpcError as error:
                context.abort(error.code, error.message)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )

    def _stream(
        self,
        method: str,
        handle: Callable[[Any, Fault | None], list[Any]],
        request_type: Any,
        response_type: Any,
    ) -> Any:
        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            fault = self._take_fault(method)
            if fault is not None:
                time.sleep(fault.delay)
                if fault.code is not None and fault.after_responses == 0:
                    context.abort(fault.code, f"injected fault on {method}")
            try:
                responses = handle(request_type.pb(request), fault)
            except RpcError as error:
                context.abort(error.code, error.message)
            for sent, response in enumerate(responses):
                if fault is not None and fault.code is not None and sent == fault.after_responses:
                    context.abort(fault.code, f"injected fault on {method} after {sent} responses")
                yield response_type.wrap(response)

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )

    def _read_time(self, request: Any) -> int:
        """The read time of a request that may not run in a transaction."""
        read_ns, _began, transaction = self._consistency(request)
        if transaction is not None:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "this read cannot be transactional")
        return read_ns

    def _checked_read_time(self, timestamp: Any) -> int:
        now = self.state.read_time_ns()
        read_ns = _timestamp_ns(timestamp)
        if read_ns % 1000:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "read_time must be in microseconds")
        if read_ns > now:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "read_time is in the future")
        return read_ns

    def _consistency(self, request: Any) -> tuple[int, bytes, PeerTransaction | None]:
        """(read time, id of a transaction this request began or b"", its transaction).

        Call with the lock held."""
        selector = request.WhichOneof("consistency_selector")
        if selector is None:
            return self.state.read_time_ns(), b"", None
        if selector == "read_time":
            return self._checked_read_time(request.read_time), b"", None
        if selector == "new_transaction":
            transaction_id = self._begin(request.new_transaction)
            transaction = self.transactions[transaction_id]
            return transaction.read_ns, transaction_id, transaction
        transaction = self.transactions.get(request.transaction)
        if transaction is None:
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "the transaction is not active (committed, rolled back or unknown)",
            )
        return transaction.read_ns, b"", transaction

    def _begin(self, options: Any) -> bytes:
        """Open a transaction (call with the lock held) and return its id."""
        read_only = options.WhichOneof("mode") == "read_only"
        if read_only and options.read_only.HasField("read_time"):
            read_ns = self._checked_read_time(options.read_only.read_time)
        else:
            read_ns = self.state.read_time_ns()
        transaction_id = f"peer-transaction-{next(self._transaction_ids)}".encode()
        self.transactions[transaction_id] = PeerTransaction(read_ns, read_only)
        return transaction_id

    @staticmethod
    def _note_reads(transaction: PeerTransaction | None, names: Iterable[str]) -> None:
        if transaction is not None and not transaction.read_only:
            transaction.reads.update(names)

    # -- RPCs ----------------------------------------------------------------------------

    def _begin_transaction(self, request: Any) -> Any:
        with self._lock:
            transaction_id = self._begin(request.options)
        return types.BeginTransactionResponse.pb()(transaction=transaction_id)

    def _rollback(self, request: Any) -> Any:
        with self._lock:
            self.transactions.pop(request.transaction, None)
        return empty_pb2.Empty()

    def _commit(self, request: Any) -> Any:
        with self._lock:
            if request.transaction:
                transaction = self.transactions.pop(request.transaction, None)
                if transaction is None:
                    raise RpcError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "the transaction is not active (committed, rolled back or unknown)",
                    )
                if transaction.read_only and request.writes:
                    raise RpcError(
                        grpc.StatusCode.INVALID_ARGUMENT, "a read-only transaction cannot write"
                    )
                for name in sorted(transaction.reads):
                    history = self.state.versions.get(name)
                    if history and history[-1][0] > transaction.read_ns:
                        raise RpcError(
                            grpc.StatusCode.ABORTED,
                            f"contention: {name} was written after the transaction read it",
                        )
            results, commit_ns = self.state.commit(request.writes)
        return types.CommitResponse.pb()(write_results=results, commit_time=_timestamp(commit_ns))

    def _batch_get_documents(self, request: Any, fault: Fault | None) -> list[Any]:
        for name in request.documents:
            _split_document_name(name)
        response_type = types.BatchGetDocumentsResponse.pb()
        with self._lock:
            read_ns, began, transaction = self._consistency(request)
            documents = [
                (name, self.state.document_at(name, read_ns)) for name in request.documents
            ]
            self._note_reads(transaction, request.documents)
        read_time = _timestamp(read_ns)
        responses = []
        if began:
            # Firestore answers a read that began a transaction with its id first.
            responses.append(response_type(transaction=began, read_time=read_time))
        for name, document in documents:
            if document is None:
                responses.append(response_type(missing=name, read_time=read_time))
                continue
            if request.HasField("mask"):
                document = _project(document, request.mask.field_paths)
            responses.append(response_type(found=document, read_time=read_time))
        return responses

    def _run_query(self, request: Any, fault: Fault | None) -> list[Any]:
        if request.HasField("explain_options"):
            raise RpcError(grpc.StatusCode.UNIMPLEMENTED, "explain is not supported")
        query = request.structured_query
        with self._lock:
            read_ns, began, transaction = self._consistency(request)
            documents, skipped = self.state.run_query(
                request.parent,
                query,
                read_ns,
                ignore_cursors=fault is not None and fault.ignore_cursors,
            )
            self._note_reads(transaction, (document.name for document in documents))
        if query.HasField("select"):
            paths = [reference.field_path for reference in query.select.fields]
            documents = [_project(document, paths) for document in documents]
        response_type = types.RunQueryResponse.pb()
        read_time = _timestamp(read_ns)
        responses = [
            response_type(document=document, read_time=read_time) for document in documents
        ]
        if not responses:
            # Firestore answers an empty result with one message carrying only the read time.
            responses.append(response_type(read_time=read_time))
        responses[0].skipped_results = skipped
        if began:
            responses[0].transaction = began
        return responses

    def _run_aggregation_query(self, request: Any, fault: Fault | None) -> list[Any]:
        if request.HasField("explain_options"):
            raise RpcError(grpc.StatusCode.UNIMPLEMENTED, "explain is not supported")
        aggregation_query = request.structured_aggregation_query
        with self._lock:
            read_ns, began, transaction = self._consistency(request)
            documents, _ = self.state.run_query(
                request.parent, aggregation_query.structured_query, read_ns
            )
            self._note_reads(transaction, (document.name for document in documents))
        result = types.AggregationResult.pb()()
        for position, aggregation in enumerate(aggregation_query.aggregations, start=1):
            alias = aggregation.alias or f"field_{position}"
            result.aggregate_fields[alias].CopyFrom(aggregate(documents, aggregation))
        return [
            types.RunAggregationQueryResponse.pb()(
                result=result, read_time=_timestamp(read_ns), transaction=began
            )
        ]

    def _list_collection_ids(self, request: Any) -> Any:
        with self._lock:
            read_ns = self._read_time(request)
            collection_ids = self.state.collection_ids(request.parent, read_ns)
        if request.page_token:
            collection_ids = [name for name in collection_ids if name > request.page_token]
        page_size = request.page_size or len(collection_ids)
        page = collection_ids[:page_size]
        next_token = page[-1] if len(collection_ids) > page_size else ""
        return types.ListCollectionIdsResponse.pb()(collection_ids=page, next_page_token=next_token)


# ---------------------------------------------------------------------------------------------
# HTTP side port: the same controls for a peer running in another process


def _admin_handler(peer: FirestorePeer) -> type[BaseHTTPRequestHandler]:
    """`GET /stats`, `POST /reset`, `POST /reset-counters`, `POST /faults` (JSON body with the
    `inject_fault` arguments; `code` is a gRPC status name or null), `DELETE /faults`."""

    class AdminHandler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._reply(200, peer.stats())
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path == "/reset":
                peer.reset()
            elif self.path == "/reset-counters":
                peer.reset_counters()
            elif self.path == "/faults":
                length = int(self.headers.get("Content-Length") or 0)
                spec = json.loads(self.rfile.read(length) or b"{}")
                code = spec.pop("code", "UNAVAILABLE")
                try:
                    status = None if code is None else grpc.StatusCode[code]
                    peer.inject_fault(spec.pop("method"), code=status, **spec)
                except (KeyError, TypeError) as error:
                    self._reply(400, {"error": f"bad fault: {error}"})
                    return
            else:
                self._reply(404, {"error": "not found"})
                return
            self._reply(200, peer.stats())

        def do_DELETE(self) -> None:
            if self.path == "/faults":
                peer.clear_faults()
                self._reply(200, peer.stats())
            else:
                self._reply(404, {"error": "not found"})

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: test output should not carry an access log."""

    return AdminHandler


def start_firestore_peer(
    port: int = 0, *, admin_port: int | None = None
) -> tuple[FirestorePeer, str]:
    """Start a peer on 127.0.0.1 and return it with the `host:port` for
    FIRESTORE_EMULATOR_HOST. Pass `admin_port` (0 for any) to also serve the HTTP controls."""
    peer = FirestorePeer()
    host_port = peer.start(port, admin_port=admin_port)
    return peer, host_port


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Firestore test peer on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--admin-port", type=int, default=None)
    arguments = parser.parse_args()
    peer, host_port = start_firestore_peer(arguments.port, admin_port=arguments.admin_port)
    print(f"FIRESTORE_EMULATOR_HOST={host_port}", flush=True)
    if peer.admin_port is not None:
        print(f"admin: http://127.0.0.1:{peer.admin_port}/stats", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        peer.stop()


if __name__ == "__main__":
    main()
