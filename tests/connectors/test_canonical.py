import datetime as dt
import hashlib
import uuid
from decimal import Decimal

import pytest

from connectors.sdk.canonical import (
    CanonicalError,
    canonical_hash,
    canonical_json,
    canonical_text,
    content_hash,
    format_time,
    normalize,
)
from tests.factories import ConnectorCallFactory


def test_it_sorts_keys_and_drops_whitespace():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == b'{"a":[1,{"c":3,"d":2}],"b":1}'


def test_it_escapes_non_ascii_so_bytes_do_not_depend_on_encoding():
    assert canonical_json({"note": "céramique"}) == b'{"note":"c\\u00e9ramique"}'


def test_it_writes_times_in_utc_with_microseconds_and_z():
    paris = dt.timezone(dt.timedelta(hours=1))
    moment = dt.datetime(2026, 3, 1, 10, 0, 0, tzinfo=paris)
    assert format_time(moment) == "2026-03-01T09:00:00.000000Z"
    assert canonical_json({"at": moment}) == b'{"at":"2026-03-01T09:00:00.000000Z"}'


def test_it_refuses_naive_times_decimals_nan_and_sets():
    for value in (dt.datetime(2026, 1, 1), Decimal("1.10"), float("nan"), {1, 2}):
        with pytest.raises(CanonicalError):
            canonical_json({"v": value})


def test_dates_and_uuids_have_one_form():
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert (
        canonical_json([dt.date(2026, 1, 2), ident])
        == b'["2026-01-02","12345678-1234-5678-1234-567812345678"]'
    )


def test_same_facts_in_any_order_hash_the_same():
    assert canonical_hash({"a": 1, "b": 2}) == canonical_hash({"b": 2, "a": 1})
    assert canonical_hash({"a": 1}) != canonical_hash({"a": 2})


def test_normalize_makes_cloud_values_plain_and_canonical():
    paris = dt.timezone(dt.timedelta(hours=1))
    value = {
        "when": dt.datetime(2026, 11, 27, 14, 0, tzinfo=paris),
        "cents": 1200.0,
        "ratio": 0.5,
        "tags": ("a", "b"),
        "nested": {1: [None, True]},
    }
    assert normalize(value) == {
        "when": "2026-11-27T13:00:00.000000Z",
        "cents": 1200,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "nested": {"1": [None, True]},
    }


def test_whole_floats_hash_like_integers_once_normalized():
    assert canonical_hash(normalize({"cents": 1200.0})) == canonical_hash({"cents": 1200})


@pytest.mark.parametrize("bad", [dt.datetime(2026, 1, 1), float("nan"), Decimal("1.5"), object()])
def test_normalize_refuses_values_without_a_canonical_form(bad):
    with pytest.raises(CanonicalError):
        normalize({"x": bad})


def test_canonical_text_is_the_ascii_of_the_bytes():
    assert canonical_text({"name": "Céramique"}) == '{"name":"C\\u00e9ramique"}'


# -- one canonical JSON for the audit chain, the mirror and the connector hashes -------------

NOTE = {"note": "Glasur für Schale"}
NOTE_BYTES = b'{"note":"Glasur f\\u00fcr Schale"}'


def test_the_former_call_sites_hash_the_glaze_note_identically():
    # The audit chain (governance.audit) and the connector calls (connectors.sdk.base) once
    # had an encoder each; both now reach the one module.
    from connectors.sdk import base
    from governance import audit

    assert audit.canonical_json(NOTE) == canonical_json(NOTE) == NOTE_BYTES
    digest = hashlib.sha256(NOTE_BYTES).hexdigest()
    assert hashlib.sha256(audit.canonical_json(NOTE)).hexdigest() == digest
    assert base.content_hash(NOTE) == content_hash(NOTE) == f"sha256:{digest}"
    # The old connector encoder (UTF-8, default=str) gave another digest for the same facts.
    assert digest != hashlib.sha256('{"note":"Glasur für Schale"}'.encode()).hexdigest()


def test_a_mirrored_document_hashes_its_fields_with_the_same_encoding():
    from brain.state.sources import make_document

    document = make_document("firestore", "notes", "n1", NOTE, None)

    assert document.content_hash == hashlib.sha256(NOTE_BYTES).hexdigest()
    assert content_hash(document.data) == f"sha256:{document.content_hash}"


def test_a_connector_call_hashes_its_input_and_output_canonically(hubitat_peer):
    from connectors.hubitat.connector import HubitatConnector
    from connectors.hubitat.schemas import HubitatSettings
    from connectors.sdk.schemas import ReadQuery

    connector = HubitatConnector(
        instance="canonical",
        settings=HubitatSettings.model_validate(
            {"host": hubitat_peer.url, "app_id": hubitat_peer.app_id}
        ),
        secrets={"token": hubitat_peer.token},
    )
    query = ReadQuery(resource="devices", params=NOTE)

    result = connector.read(query)

    assert result.meta is not None
    expected_input = {
        "kind": "hubitat",
        "instance": "canonical",
        "operation": "read",
        "input": {"resource": "devices", "device_ids": [], "params": NOTE},
    }
    assert result.meta.input_hash == "sha256:" + canonical_hash(expected_input)
    assert result.meta.output_hash == "sha256:" + canonical_hash(
        result.model_dump(mode="json", exclude={"meta"})
    )


@pytest.mark.parametrize(
    "value",
    [dt.datetime(2026, 1, 1), Decimal("1.10"), object(), float("inf"), {1, 2}],
    ids=["naive-datetime", "decimal", "object", "infinity", "set"],
)
def test_connector_hashes_refuse_values_instead_of_stringifying_them(value):
    with pytest.raises(CanonicalError):
        content_hash({"v": value})


def test_firestore_values_without_a_plain_form_are_refused_not_stringified():
    from connectors.firestore.client import plain

    with pytest.raises(CanonicalError, match="Decimal has no plain form"):
        plain(Decimal("1.5"))


def test_firestore_write_states_write_timestamps_in_the_canonical_form():
    from connectors.firestore.writes import _plain

    paris = dt.timezone(dt.timedelta(hours=1))
    fields = {"at": dt.datetime(2026, 3, 1, 10, 0, tzinfo=paris), "note": "Glasur für Schale"}

    assert _plain(fields) == {"at": "2026-03-01T09:00:00.000000Z", "note": "Glasur für Schale"}


@pytest.mark.django_db
def test_the_migration_relabels_hashes_of_the_old_encoder_and_back():
    import importlib

    from django.apps import apps

    from tests.factories import StudioFactory

    migration = importlib.import_module("connectors.migrations.0002_connector_call_hash_scheme")
    studio = StudioFactory()
    old = ConnectorCallFactory(
        studio=studio,
        kind="hubitat",
        operation="read",
        outcome="failed",
        input_hash="sha256:" + "a" * 64,
        output_hash="",
    )
    already = ConnectorCallFactory(
        studio=studio,
        kind="hubitat",
        operation="read",
        outcome="failed",
        input_hash="sha256-utf8:" + "b" * 64,
        output_hash="sha256-utf8:" + "c" * 64,
    )

    migration.relabel(apps, None)
    old.refresh_from_db()
    already.refresh_from_db()
    assert (old.input_hash, old.output_hash) == ("sha256-utf8:" + "a" * 64, "")
    assert already.input_hash == "sha256-utf8:" + "b" * 64

    migration.unlabel(apps, None)
    old.refresh_from_db()
    assert old.input_hash == "sha256:" + "a" * 64
