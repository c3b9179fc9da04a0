from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from brain.canonical import CanonicalError, canonical_json, content_hash


def test_keys_are_sorted_and_whitespace_is_gone():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":1}'


def test_datetimes_are_utc_with_z():
    paris = timezone(timedelta(hours=1))
    assert canonical_json(datetime(2026, 11, 27, 14, 0, tzinfo=paris)) == '"2026-11-27T13:00:00Z"'
    assert (
        canonical_json(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
        == '"2026-01-02T03:04:05.000006Z"'
    )
    assert canonical_json(date(2026, 11, 27)) == '"2026-11-27"'


def test_whole_floats_and_decimals_hash_like_integers():
    assert (
        content_hash({"cents": 1200.0})
        == content_hash({"cents": 1200})
        == content_hash({"cents": Decimal("1200")})
    )


@pytest.mark.parametrize("bad", [datetime(2026, 1, 1), float("nan"), Decimal("1.5"), object()])
def test_values_without_a_canonical_form_are_refused(bad):
    with pytest.raises(CanonicalError):
        canonical_json({"x": bad})


def test_unicode_is_kept_as_utf8():
    assert canonical_json({"name": "Céramique"}) == '{"name":"Céramique"}'
