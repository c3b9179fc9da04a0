"""Snapshot warnings: structured ``{code, source, collection, detail}`` records, not text.

A snapshot's ``diagnostics.warnings`` is a list of these, sorted, so the content stays
byte-identical for the same cloud data. Readers (the drift check, the State page, the
``snapshot`` command) decide on ``code`` and the collection key, never on the wording of
``detail``, which is for people.

Pure Python, no Django: the snapshot content, the services, the views and the data migration
that converted the old text warnings (brain migration 0003) all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypedDict


class WarningCode(StrEnum):
    # A collection's read raised (a connector error, a parent that could not be read, a
    # source that is not configured): its records keep their last known state.
    READ_FAILED = "READ_FAILED"
    # A collection stopped at BRAIN_SCAN_LIMIT: counts may be low, nothing is marked deleted.
    SCAN_LIMIT = "SCAN_LIMIT"
    # Fresh cloud counts differ from the snapshot's past the drift thresholds.
    DRIFT = "DRIFT"


# Codes that mean a collection was not read to the end: its count is no expectation.
INCOMPLETE = frozenset({WarningCode.READ_FAILED, WarningCode.SCAN_LIMIT})


class SnapshotWarning(TypedDict):
    code: str
    source: str
    collection: str
    detail: str


def warning(code: WarningCode, source: str, collection: str, detail: str) -> SnapshotWarning:
    return {"code": str(code), "source": source, "collection": collection, "detail": detail}


def read_failed(source: str, collection: str, error: str) -> SnapshotWarning:
    return warning(WarningCode.READ_FAILED, source, collection, error)


def scan_limit(source: str, collection: str, scanned: int) -> SnapshotWarning:
    return warning(
        WarningCode.SCAN_LIMIT,
        source,
        collection,
        f"stopped at the scan limit after {scanned} documents",
    )


def drift(collection: str, expected: int, observed: int) -> SnapshotWarning:
    # Drift is checked on Firestore's top-level collection counts only.
    return warning(
        WarningCode.DRIFT, "firestore", collection, f"expected {expected}, cloud now has {observed}"
    )


def _key(item: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (item["source"], item["collection"], item["code"], item["detail"])


def sorted_warnings(items: Iterable[Mapping[str, Any]]) -> list[SnapshotWarning]:
    """Unique warnings in one order (source, collection, code, detail): deterministic content."""
    unique = {_key(item): item for item in items}
    return [
        warning(WarningCode(code), source, collection, detail)
        for source, collection, code, detail in sorted(unique)
    ]


def collection_key(item: Mapping[str, Any]) -> str:
    """``source:collection``, the key of ``diagnostics.documents_scanned``."""
    return f"{item['source']}:{item['collection']}"


def incomplete_collections(items: Iterable[Mapping[str, Any]]) -> dict[str, WarningCode]:
    """``source:collection`` -> READ_FAILED or SCAN_LIMIT for collections not read to the end
    (a failure wins over a scan limit)."""
    found: dict[str, WarningCode] = {}
    for item in items:
        code = WarningCode(item["code"])
        if code in INCOMPLETE and found.get(collection_key(item)) != WarningCode.READ_FAILED:
            found[collection_key(item)] = code
    return found


def warning_text(item: Mapping[str, Any]) -> str:
    """One line for people and logs (the wording text warnings had before they had codes)."""
    code = WarningCode(item["code"])
    if code is WarningCode.READ_FAILED:
        return f"{collection_key(item)} read failed: {item['detail']}"
    if code is WarningCode.DRIFT:
        return f"drift: {item['collection']} {item['detail']}"
    return f"{collection_key(item)} {item['detail']}"


_READ_FAILED = re.compile(
    r"^(?P<source>[a-z]+):(?P<collection>\S+) read failed: (?P<detail>.*)$", re.S
)
_SCAN_LIMIT = re.compile(
    r"^(?P<source>[a-z]+):(?P<collection>\S+) (?P<detail>stopped at the scan limit after \d+ documents)$"
)
_DRIFT = re.compile(r"^drift: (?P<collection>\S+) (?P<detail>expected -?\d+, cloud now has -?\d+)$")


class UnknownWarningText(ValueError):
    """A stored text warning none of the old producers could have written."""


def from_text(text: str) -> SnapshotWarning:
    """The structured form of a text warning as snapshots stored it before codes (the
    inverse of ``warning_text``); for the data migration."""
    if match := _READ_FAILED.match(text):
        return read_failed(match["source"], match["collection"], match["detail"])
    if match := _SCAN_LIMIT.match(text):
        return warning(
            WarningCode.SCAN_LIMIT, match["source"], match["collection"], match["detail"]
        )
    if match := _DRIFT.match(text):
        return warning(WarningCode.DRIFT, "firestore", match["collection"], match["detail"])
    raise UnknownWarningText(f"not a snapshot warning this version wrote: {text!r}")
