"""Diffs between snapshots: per metric {from, to}, and record-level changes per collection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brain.state.snapshot import metrics_of

EXAMPLES_PER_KIND = 20

RecordKey = tuple[str, str]  # (collection path, document id)


def diff_metrics(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> dict[str, dict[str, int | None]]:
    """Only the metrics that changed, as ``{metric: {"from": a, "to": b}}`` (quiet by design)."""
    before = metrics_of(previous) if previous else {}
    after = metrics_of(current)
    return {
        name: {"from": before.get(name), "to": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def diff_records(
    previous: Mapping[RecordKey, str], current: Mapping[RecordKey, str]
) -> dict[str, dict[str, Any]]:
    """Added / removed / changed records per collection, with counts and up to 20 sorted examples.

    ``previous`` and ``current`` map (collection, id) to a content hash. Linear in the number
    of records: one pass over each mapping.
    """
    changes: dict[str, dict[str, list[str]]] = {}

    def note(collection: str, kind: str, doc_id: str) -> None:
        changes.setdefault(collection, {"added": [], "removed": [], "changed": []})[kind].append(
            doc_id
        )

    for key, digest in current.items():
        before = previous.get(key)
        if before is None:
            note(key[0], "added", key[1])
        elif before != digest:
            note(key[0], "changed", key[1])
    for key in previous.keys() - current.keys():
        note(key[0], "removed", key[1])
    return {
        collection: {
            kind: {"count": len(ids), "examples": sorted(ids)[:EXAMPLES_PER_KIND]}
            for kind, ids in kinds.items()
        }
        for collection, kinds in sorted(changes.items())
    }
