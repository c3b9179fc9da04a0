import datetime as dt
import uuid
from decimal import Decimal

import pytest

from brain.canonical import (
    CanonicalError,
    canonical_hash,
    canonical_json,
    canonical_text,
    format_time,
    normalize,
)


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
