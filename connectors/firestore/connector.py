"""The Firestore connector: collections read page by page in id order, field-masked, at one read time.

Resources:

- ``documents``: ``params = {"collection": "batches", "read_time": ..., "scan_limit": N}``
  reads a top-level collection; ``{"collection": "batches/*/pieces", "parents": [ids]}``
  reads that subcollection under each parent id (the parents come from the caller's read of
  ``batches``: collection-group queries and ``list_documents`` are not available on every
  server the reader meets). The scan limit applies to the whole collection group; the
  records are the first ``scan_limit`` in (parent id, document id) order, and
  ``truncated`` says more exist.
- ``counts``: ``params = {"collections": [...], "read_time": ...}``: one ``count()``
  aggregation per collection (drift checks).

Every query after the first runs at the same server ``read_time`` (the first one comes
from the server, see ``FirestoreReader.server_read_time``), so a read is one consistent
view of the database, and ``ReadResult.read_at`` is the server's time, not ours.

The pagination defends itself: a page must be in strictly increasing id order and start
after the previous page's last id. A server whose cursor does not advance (the npm
emulator answers the first page again) or that does not sort by id fails the collection
with BAD_RESPONSE instead of looping for ever.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.firestore.client import FirestoreReader, Snapshot
from connectors.firestore.schemas import FieldMask, FirestoreSettings, mask_for
from connectors.sdk.base import Connector, run_in_context
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.registry import register
from connectors.sdk.schemas import Availability, HealthReport, ReadQuery, ReadResult, Record

T = TypeVar("T")
R = TypeVar("R")


class DocumentsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    collection: str = Field(min_length=1)
    parents: tuple[str, ...] = ()
    read_time: datetime | None = None
    scan_limit: int = Field(ge=1)


class CountsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    collections: tuple[str, ...] = Field(min_length=1)
    read_time: datetime | None = None


@register
class FirestoreConnector(Connector):
    kind = "firestore"
    version = "1.0"
    settings_model = FirestoreSettings
    # No required secret: `credentials` (a service-account JSON) is optional; without it the
    # client uses the environment's default credentials, or none against an emulator.
    secret_keys = ()
    read_resources = ("documents", "counts")
    description = (
        "The studio's Firestore, read-only: field-masked, id-ordered pages at one read time."
    )
    settings: FirestoreSettings

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = FirestoreReader(
            project=self.settings.project,
            database=self.settings.database,
            credentials_json=self.secrets.get("credentials"),
            timeout=self.settings.timeout,
        )

    # The library's Client.close() only closes an HTTP session a gRPC client never opens;
    # the channel is released with the client object, so the base close() is enough.

    def _health(self) -> HealthReport:
        collections = self.retry(self.client.collection_ids)
        return HealthReport(
            availability=Availability.HEALTHY,
            detail=f"Firestore answered with {len(collections)} top-level collections",
        )

    def _read(self, query: ReadQuery) -> ReadResult:
        if query.resource == "counts":
            return self._counts(_parse(CountsQuery, query.params))
        return self._documents(_parse(DocumentsQuery, query.params))

    # -- documents -------------------------------------------------------------------

    def _documents(self, spec: DocumentsQuery) -> ReadResult:
        group = spec.collection
        try:
            mask = mask_for(group)
        except KeyError:
            raise ConnectorError(
                ErrorCode.UNKNOWN,
                f"{group} has no field mask in connectors/firestore/schemas.py; the brain does not read it",
            ) from None
        parts = group.split("/")
        nested = len(parts) > 1
        if nested and (len(parts) != 3 or parts[1] != "*"):
            raise ConnectorError(
                ErrorCode.UNKNOWN, f"{group} is not a collection or a <parent>/*/<name> group"
            )
        if not nested and spec.parents:
            raise ConnectorError(ErrorCode.UNKNOWN, f"{group} is top level; it takes no parents")
        read_time = spec.read_time or self.retry(self.client.server_read_time, parts[0])
        cap = spec.scan_limit + 1  # one more than the limit tells whether the limit was hit
        if nested:
            paths = [f"{parts[0]}/{parent}/{parts[2]}" for parent in sorted(set(spec.parents))]
        else:
            paths = [group]
        records: list[Record] = []
        for path, page in self._fan_out(
            paths, lambda path: (path, self._walk(path, mask, read_time, cap))
        ):
            records.extend(
                Record.model_construct(
                    collection=path, id=doc.id, fields=doc.fields, updated_at=doc.updated_at
                )
                for doc in page[: cap - len(records)]
            )
            if len(records) >= cap:
                break
        truncated = len(records) > spec.scan_limit
        return ReadResult(
            resource="documents",
            read_at=read_time,
            records=records[: spec.scan_limit],
            truncated=truncated,
        )

    def _walk(self, path: str, mask: FieldMask, read_time: datetime, cap: int) -> list[Snapshot]:
        """Every document of one collection (at most ``cap``), one page at a time, in id order."""
        documents: list[Snapshot] = []
        after: str | None = None
        while len(documents) < cap:
            want = min(self.settings.page_size, cap - len(documents))
            page = self.retry(self.client.page, path, mask, after, want, read_time)
            check_page(path, page, after, want)
            documents.extend(page)
            if len(page) < want:
                break
            after = page[-1].id
        return documents

    # -- counts ----------------------------------------------------------------------

    def _counts(self, spec: CountsQuery) -> ReadResult:
        first, *rest = spec.collections
        read_time = spec.read_time
        counted: list[tuple[str, int]] = []
        if read_time is None:
            count, read_time = self.retry(self.client.count, first, None)
            counted.append((first, count))
        else:
            rest = [first, *rest]
        at = read_time
        counted += list(
            self._fan_out(rest, lambda name: (name, self.retry(self.client.count, name, at)[0]))
        )
        return ReadResult(
            resource="counts",
            read_at=read_time,
            records=[
                Record(collection=name, id=name, fields={"count": count}) for name, count in counted
            ],
        )

    # -- helpers -----------------------------------------------------------------------

    def _fan_out(self, items: Iterable[T], fetch: Callable[[T], R]) -> Iterator[R]:
        """``fetch(item)`` for every item, results in the items' order, at most
        ``max_concurrency`` in flight. Stopping early cancels what has not started."""
        items = iter(items)
        workers = self.settings.max_concurrency
        if workers == 1:
            yield from (fetch(item) for item in items)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="firestore") as pool:
            pending: deque[Future[R]] = deque()

            def submit_next() -> None:
                for item in items:
                    pending.append(pool.submit(run_in_context(fetch, item)))
                    return

            for _ in range(workers * 2):
                submit_next()
            try:
                while pending:
                    result = pending.popleft().result()
                    submit_next()
                    yield result
            finally:
                for future in pending:
                    future.cancel()


def check_page(path: str, page: list[Snapshot], after: str | None, want: int) -> None:
    """A page must hold at most ``want`` documents in strictly increasing id order, all after
    the cursor. Anything else means the server ignored the cursor or the ordering."""
    if len(page) > want:
        raise ConnectorError(
            ErrorCode.BAD_RESPONSE,
            f"RunQuery {path}: asked for {want} documents, got {len(page)} (the limit was ignored)",
        )
    previous = after
    for document in page:
        if previous is not None and not document.id > previous:
            what = (
                "the cursor did not advance past"
                if previous == after
                else "ids are not in order after"
            )
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"RunQuery {path}: {what} {previous!r} (got {document.id!r}); "
                "the server ignores start_after or order_by(__name__)",
                diagnostic=", ".join(d.id for d in page[:10]),
            )
        previous = document.id


def _parse(model: type[BaseModel], params: dict[str, Any]) -> Any:
    try:
        return model.model_validate(params)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "params"
        raise ConnectorError(
            ErrorCode.UNKNOWN, f"bad read parameters at {location}: {first['msg']}"
        ) from None


__all__ = ["DocumentsQuery", "FirestoreConnector", "check_page"]
