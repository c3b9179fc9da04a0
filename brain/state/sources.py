"""Where cloud reads come from: the real readers (connectors) or the demo files.

Every source yields the same normalized shape, so the mirror, the snapshot and the diffs
cannot tell demo data from cloud data apart — only the ``data_source`` label differs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from brain.state.demo import iter_documents
from brain.state.snapshot import (
    FIRESTORE_COLLECTIONS,
    FIRESTORE_GROUPS,
    STRIPE_COLLECTIONS,
    CollectionRead,
)
from connectors.firestore.schemas import FIELD_MASKS, apply_mask
from connectors.sdk.canonical import canonical_hash, normalize

# Fields the servers rewrite on every touch: kept in the mirror, left out of the content hash,
# so a document re-saved with the same content does not look changed.
VOLATILE_FIELDS = frozenset({"updatedAt", "updateTime", "serverUpdatedAt", "lastUpdated"})


@dataclass(frozen=True)
class CloudDocument:
    source: str  # firestore | stripe
    collection: str  # collection path: "batches", "batches/batch1/pieces", "payment_intents"
    doc_id: str
    data: dict[str, Any]  # normalized (canonical JSON types)
    content_hash: str
    updated_at: datetime | None


class SourceError(Exception):
    """A source could not answer at all (e.g. fresh counts for a drift check); the message says why."""


@dataclass
class SourceRead:
    """Everything one source returned in one read, with how each collection went."""

    source: str
    # The server's read time where it gives one (Firestore); None when nothing could be read.
    read_at: datetime | None
    documents: list[CloudDocument] = field(default_factory=list)
    reads: list[CollectionRead] = field(default_factory=list)
    duration_ms: int = 0

    def complete_collections(self) -> set[str]:
        """Collection groups read to the end without error: only these may mark missing records deleted."""
        return {r.collection for r in self.reads if not r.error and not r.hit_scan_limit}


def make_document(
    source: str,
    collection: str,
    doc_id: str,
    fields: Mapping[str, Any],
    updated_at: datetime | None,
) -> CloudDocument:
    data = normalize(dict(fields))
    hashed = {key: value for key, value in data.items() if key not in VOLATILE_FIELDS}
    digest = canonical_hash(hashed)
    return CloudDocument(source, collection, doc_id, data, digest, updated_at)


# progress(source, collection group, documents read so far, finished)
ReadProgress = Callable[[str, str, int, bool], None]


def _no_progress(source: str, collection: str, count: int, done: bool) -> None:
    return None


class CloudSource(Protocol):
    """A source of cloud reads. ``name`` is stored on snapshots (demo | cloud)."""

    name: str

    def read(
        self, *, scan_limit: int, progress: ReadProgress = _no_progress
    ) -> list[SourceRead]: ...

    def count(self) -> dict[str, int]:
        """Fresh document counts per top-level Firestore collection (drift checks).

        Raises ``SourceError`` when the counts cannot be had.
        """
        ...


def _split_path(path: str) -> tuple[str, str]:
    collection, _, doc_id = path.rpartition("/")
    return collection, doc_id


def collection_group(collection_path: str) -> str:
    """``batches/b1/pieces`` -> ``batches/*/pieces``: the unit scan limits and counts apply to."""
    parts = collection_path.split("/")
    return "/".join("*" if i % 2 else part for i, part in enumerate(parts))


class DemoSource:
    """Reads ``firestore.json`` and ``stripe.json`` written by ``manage.py demo_cloud``.

    It mirrors exactly what the Firestore reader would: the same collection groups (others
    in the file are not read), the same field masks (``connectors/firestore/schemas.py``),
    and the scan limit per collection group (``batches``, ``batches/*/pieces``).
    """

    name = "demo"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _load(self, filename: str) -> Any:
        path = self.directory / filename
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path} is missing; generate it with `manage.py demo_cloud --studio S --out {self.directory}`"
            ) from None

    def read(self, *, scan_limit: int, progress: ReadProgress = _no_progress) -> list[SourceRead]:
        return [self._read_firestore(scan_limit, progress), self._read_stripe(scan_limit, progress)]

    def count(self) -> dict[str, int]:
        counts = dict.fromkeys(FIRESTORE_COLLECTIONS, 0)
        for path, *_ in iter_documents(self._load("firestore.json")):
            collection, _doc_id = _split_path(path)
            if "/" not in collection:
                counts[collection] = counts.get(collection, 0) + 1
        return counts

    def _read_firestore(self, scan_limit: int, progress: ReadProgress) -> SourceRead:
        started = time.perf_counter()
        export = self._load("firestore.json")
        read = SourceRead("firestore", read_at=datetime.now(UTC))
        scanned = dict.fromkeys(FIRESTORE_GROUPS, 0)
        limited: set[str] = set()
        for path, fields, _created, updated in iter_documents(export):
            collection, doc_id = _split_path(path)
            group = collection_group(collection)
            if group not in scanned:
                continue
            if scanned[group] >= scan_limit:
                limited.add(group)
                continue
            scanned[group] += 1
            if scanned[group] % 500 == 0:
                progress("firestore", group, scanned[group], False)
            masked = apply_mask(fields, FIELD_MASKS[group])
            read.documents.append(make_document("firestore", collection, doc_id, masked, updated))
        read.reads = [
            CollectionRead("firestore", name, count, hit_scan_limit=name in limited)
            for name, count in sorted(scanned.items())
        ]
        for collection_read in read.reads:
            progress("firestore", collection_read.collection, collection_read.scanned, True)
        read.duration_ms = round((time.perf_counter() - started) * 1000)
        return read

    def _read_stripe(self, scan_limit: int, progress: ReadProgress) -> SourceRead:
        started = time.perf_counter()
        objects: Mapping[str, Iterable[Mapping[str, Any]]] = self._load("stripe.json")
        read = SourceRead("stripe", read_at=datetime.now(UTC))
        for kind in STRIPE_COLLECTIONS:
            items = list(objects.get(kind, []))
            for obj in items[:scan_limit]:
                created = obj.get("created")
                updated = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
                read.documents.append(make_document("stripe", kind, str(obj["id"]), obj, updated))
            read.reads.append(
                CollectionRead(
                    "stripe",
                    kind,
                    min(len(items), scan_limit),
                    hit_scan_limit=len(items) > scan_limit,
                )
            )
            progress("stripe", kind, min(len(items), scan_limit), True)
        read.duration_ms = round((time.perf_counter() - started) * 1000)
        return read
