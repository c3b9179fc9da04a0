"""The real cloud as a ``CloudSource``: the Firestore and Stripe connectors, read collection by collection.

A failing collection never fails the read: its ``CollectionRead`` carries the error (code
and message), the snapshot becomes partial with a warning, and the mirror leaves that
collection's records alone (a failed read must not look like deletions). Subcollections
are read under the parent ids the parent collection's read returned; when the parent
failed they are not read, and when the parent stopped at the scan limit they are marked
limited too, since their parents are only a prefix.

Firestore is read at one server read time: the first collection's read takes it from the
server, every later query passes it back, so the snapshot is one consistent view and its
``firestore_read_at`` is the server's clock. Stripe has no read time; its ``read_at`` is
when the first list began (the conservative age).

This module only drives connectors; building them from a studio's configuration (the
ORM, settings, secrets) is ``brain.services.snapshots.source_for``'s job.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from brain.state.snapshot import (
    FIRESTORE_COLLECTIONS,
    FIRESTORE_SUBCOLLECTIONS,
    STRIPE_COLLECTIONS,
    CollectionRead,
)
from brain.state.sources import ReadProgress, SourceError, SourceRead, make_document
from connectors.sdk.base import Connector
from connectors.sdk.errors import ConnectorError
from connectors.sdk.schemas import ReadQuery, ReadResult


def _no_progress(source: str, collection: str, count: int, done: bool) -> None:
    return None


def _failure(error: ConnectorError) -> str:
    return f"{error.code}: {error.message}"


class CloudReaders:
    """``CloudSource`` over a studio's Firestore connector and (optionally) its Stripe connector."""

    name = "cloud"

    def __init__(
        self,
        *,
        firestore: Connector,
        stripe: Connector | None,
        stripe_missing: str = "no Stripe connector is configured for this studio",
    ) -> None:
        self.firestore = firestore
        self.stripe = stripe
        self.stripe_missing = stripe_missing

    def read(self, *, scan_limit: int, progress: ReadProgress = _no_progress) -> list[SourceRead]:
        return [self._read_firestore(scan_limit, progress), self._read_stripe(scan_limit, progress)]

    def count(self) -> dict[str, int]:
        try:
            result = self.firestore.read(
                ReadQuery(resource="counts", params={"collections": list(FIRESTORE_COLLECTIONS)})
            )
        except ConnectorError as error:
            raise SourceError(f"Firestore counts failed: {_failure(error)}") from error
        return {record.collection: int(record.fields["count"]) for record in result.records}

    def close(self) -> None:
        self.firestore.close()
        if self.stripe is not None:
            self.stripe.close()

    # -- Firestore ---------------------------------------------------------------------

    def _read_firestore(self, scan_limit: int, progress: ReadProgress) -> SourceRead:
        started = time.perf_counter()
        read = SourceRead("firestore", read_at=None)
        parents: dict[str, ReadResult | None] = {}
        for name in FIRESTORE_COLLECTIONS:
            result = self._read_group(read, name, {}, scan_limit, progress)
            if name in FIRESTORE_SUBCOLLECTIONS:
                parents[name] = result
        for parent, names in FIRESTORE_SUBCOLLECTIONS.items():
            parent_read = parents.get(parent)
            for name in names:
                group = f"{parent}/*/{name}"
                if parent_read is None:
                    read.reads.append(
                        CollectionRead(
                            "firestore", group, 0, error=f"not read: reading {parent} failed"
                        )
                    )
                    progress("firestore", group, 0, True)
                    continue
                ids = [record.id for record in parent_read.records]
                self._read_group(
                    read,
                    group,
                    {"parents": ids},
                    scan_limit,
                    progress,
                    parent_truncated=parent_read.truncated,
                )
        read.duration_ms = round((time.perf_counter() - started) * 1000)
        return read

    def _read_group(
        self,
        read: SourceRead,
        group: str,
        extra: Mapping[str, object],
        scan_limit: int,
        progress: ReadProgress,
        *,
        parent_truncated: bool = False,
    ) -> ReadResult | None:
        progress("firestore", group, 0, False)
        params = {"collection": group, "scan_limit": scan_limit, **extra}
        if read.read_at is not None:
            params["read_time"] = read.read_at.isoformat()
        try:
            result = self.firestore.read(ReadQuery(resource="documents", params=params))
        except ConnectorError as error:
            read.reads.append(CollectionRead("firestore", group, 0, error=_failure(error)))
            progress("firestore", group, 0, True)
            return None
        if read.read_at is None:
            read.read_at = result.read_at
        read.documents.extend(
            make_document(
                "firestore", record.collection, record.id, record.fields, record.updated_at
            )
            for record in result.records
        )
        scanned = len(result.records)
        read.reads.append(
            CollectionRead(
                "firestore",
                group,
                scanned,
                hit_scan_limit=result.truncated or parent_truncated,
            )
        )
        progress("firestore", group, scanned, True)
        return result

    # -- Stripe ------------------------------------------------------------------------

    def _read_stripe(self, scan_limit: int, progress: ReadProgress) -> SourceRead:
        started = time.perf_counter()
        read = SourceRead("stripe", read_at=None)
        if self.stripe is None:
            read.reads = [
                CollectionRead("stripe", kind, 0, error=f"not read: {self.stripe_missing}")
                for kind in STRIPE_COLLECTIONS
            ]
            for kind in STRIPE_COLLECTIONS:
                progress("stripe", kind, 0, True)
            return read
        began = datetime.now(UTC)
        for kind in STRIPE_COLLECTIONS:
            progress("stripe", kind, 0, False)
            try:
                result = self.stripe.read(
                    ReadQuery(resource=kind, params={"scan_limit": scan_limit})
                )
            except ConnectorError as error:
                read.reads.append(CollectionRead("stripe", kind, 0, error=_failure(error)))
                progress("stripe", kind, 0, True)
                continue
            read.documents.extend(
                make_document("stripe", kind, record.id, record.fields, record.updated_at)
                for record in result.records
            )
            read.reads.append(
                CollectionRead("stripe", kind, len(result.records), hit_scan_limit=result.truncated)
            )
            progress("stripe", kind, len(result.records), True)
        if any(not r.error for r in read.reads):
            read.read_at = began
        read.duration_ms = round((time.perf_counter() - started) * 1000)
        return read
