"""Canonical JSON: one byte string per value, so hashes of the same facts never differ.

Rules (the audit chain, input hashes and snapshots all depend on them, so they never change):
- object keys sorted, no whitespace (``,`` and ``:`` separators), ASCII only (non-ASCII
  characters are ``\\uXXXX`` escaped), so the bytes do not depend on an encoder's settings;
- datetimes are converted to UTC and written ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six
  fraction digits); naive datetimes are refused because their instant is unknown;
- dates are ``YYYY-MM-DD``; UUIDs are their hex string form; tuples are lists;
- money is an integer number of minor units: ``Decimal`` is refused, and so are floats
  that are not finite (NaN and infinities have no JSON form).

Pure Python, no Django: unit tests and offline verifiers import it directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from decimal import Decimal
from typing import Any

UTC = dt.UTC
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class CanonicalError(TypeError):
    """A value has no canonical JSON form (naive datetime, Decimal, NaN, unknown type)."""


def format_time(value: dt.datetime) -> str:
    """The canonical text of an aware datetime: UTC, microseconds, trailing Z."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise CanonicalError(
            f"naive datetime {value.isoformat()} has no canonical form; make it aware"
        )
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        raise CanonicalError("Decimal has no canonical form; store money as integer minor units")
    if isinstance(value, set | frozenset):
        raise CanonicalError("sets have no order; pass a sorted list")
    raise CanonicalError(f"{type(value).__name__} has no canonical JSON form")


def _check_floats(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise CanonicalError(f"{value!r} has no JSON form")
    if isinstance(value, dict):
        for item in value.values():
            _check_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_floats(item)


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_default
)


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (see the module docstring for the rules)."""
    try:
        return _ENCODER.encode(value).encode("ascii")
    except ValueError as error:  # allow_nan=False: NaN or an infinity somewhere
        _check_floats(value)
        raise CanonicalError(str(error)) from None


def canonical_hash(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
