"""Structured snapshot warnings: codes readers decide on, text only for people."""

import importlib

import pytest
from django.apps import apps

from brain.state.warnings import (
    UnknownWarningText,
    WarningCode,
    drift,
    from_text,
    incomplete_collections,
    read_failed,
    scan_limit,
    sorted_warnings,
    warning_text,
)
from connectors.sdk.canonical import canonical_hash
from tests.factories import SnapshotFactory, StudioFactory

OLD_TEXTS = [
    "firestore:batches read failed: UNAVAILABLE: peer down",
    "firestore:batches/*/pieces read failed: not read: reading batches failed",
    "stripe:refunds read failed: UNAVAILABLE: Stripe answered HTTP 500",
    "firestore:batches stopped at the scan limit after 50 documents",
    "drift: reservations expected 45, cloud now has 90",
]


def test_each_warning_carries_code_source_collection_and_detail():
    assert read_failed("stripe", "refunds", "UNAVAILABLE: x") == {
        "code": "READ_FAILED",
        "source": "stripe",
        "collection": "refunds",
        "detail": "UNAVAILABLE: x",
    }
    assert scan_limit("firestore", "batches", 50)["code"] == WarningCode.SCAN_LIMIT
    assert drift("reservations", 45, 90) == {
        "code": "DRIFT",
        "source": "firestore",
        "collection": "reservations",
        "detail": "expected 45, cloud now has 90",
    }


@pytest.mark.parametrize("text", OLD_TEXTS)
def test_old_text_warnings_parse_back_to_the_same_line(text):
    assert warning_text(from_text(text)) == text


def test_text_no_producer_wrote_is_refused_not_guessed():
    with pytest.raises(UnknownWarningText):
        from_text("firestore:batches looked odd")


def test_warnings_have_one_order_and_no_duplicates_whatever_the_arrival_order():
    items = [from_text(text) for text in OLD_TEXTS]
    assert sorted_warnings(items) == sorted_warnings([*reversed(items), items[0]])
    assert [(w["source"], w["collection"]) for w in sorted_warnings(items)] == [
        ("firestore", "batches"),
        ("firestore", "batches"),
        ("firestore", "batches/*/pieces"),
        ("firestore", "reservations"),
        ("stripe", "refunds"),
    ]


def test_incomplete_collections_ignore_drift_and_a_failure_wins_over_a_scan_limit():
    items = [
        scan_limit("firestore", "batches", 50),
        read_failed("firestore", "batches", "UNAVAILABLE"),
        scan_limit("firestore", "kilns", 10),
        drift("reservations", 1, 90),
    ]
    assert incomplete_collections(items) == {
        "firestore:batches": WarningCode.READ_FAILED,
        "firestore:kilns": WarningCode.SCAN_LIMIT,
    }


@pytest.mark.django_db
def test_the_migration_converts_stored_text_warnings_and_rehashes_and_back():
    migration = importlib.import_module("brain.migrations.0003_structured_snapshot_warnings")
    studio = StudioFactory()
    old_content = {
        "schema_version": "3.0",
        "diagnostics": {"completeness": "partial", "warnings": sorted(OLD_TEXTS)},
    }
    clean_content = {"schema_version": "3.0", "diagnostics": {"warnings": []}}
    now = "2026-11-27T10:00:00Z"
    common = {
        "studio": studio,
        "kind": "capture",
        "generated_at": now,
        "data_source": "demo",
        "completeness": "partial",
    }
    old = SnapshotFactory(
        **common,
        snapshot_date="2026-11-27",
        content=old_content,
        content_hash=canonical_hash(old_content),
    )
    clean = SnapshotFactory(
        **common,
        snapshot_date="2026-11-28",
        content=clean_content,
        content_hash="untouched",
    )

    migration.to_structured(apps, None)

    old.refresh_from_db()
    clean.refresh_from_db()
    assert old.content["diagnostics"]["warnings"] == sorted_warnings(map(from_text, OLD_TEXTS))
    assert old.content_hash == canonical_hash(old.content)
    assert clean.content_hash == "untouched"

    migration.to_text(apps, None)
    old.refresh_from_db()
    assert old.content == old_content
    assert old.content_hash == canonical_hash(old_content)
