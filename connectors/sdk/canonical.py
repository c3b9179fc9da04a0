"""Canonical JSON: one byte string per value, so hashes of the same facts never differ.

This is the ONE canonical JSON of the project (docs/adr/0006-canonical-json.md): the audit
chain, proposal input hashes, snapshot and mirror content hashes, and the connector call
hashes all use it. It sits in ``connectors.sdk``, the bottom layer that every package may
import (cockpit → governance → brain → connectors.sdk), and imports nothing but the
standard library. ``tests/test_canonical_guardrail.py`` checks no other module hashes JSON.

Rules (the audit chain, input hashes and snapshots all depend on them, so they never change):
- object keys sorted, no whitespace (``,`` and ``:`` separators), ASCII only (non-ASCII
  characters are ``\\uXXXX`` escaped), so the bytes do not depend on an encoder's settings;
- datetimes are converted to UTC and written ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six
  fraction digits); naive datetimes are refused because their instant is unknown;
- dates are ``YYYY-MM-DD``; UUIDs are their hex string form; tuples are lists;
- money is an integer number of minor units: ``Decimal`` is refused, and so are floats
  that are not finite (NaN and infinities have no JSON form).

Values that are not JSON are never stringified behind the caller's back: a caller turns
cloud values into plain ones first (``normalize``; the Firestore client's ``plain`` for
references, geo points and bytes), and anything left without a form raises
``CanonicalError``.

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
CONTENT_HASH_PREFIX = "sha256:"


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


def content_hash(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``: the connector call hashes.

    The ``sha256:`` prefix names the scheme; rows written by the old UTF-8 encoder were
    relabelled ``sha256-utf8:`` (connectors migration 0002), so one label means one encoding.
    """
    return CONTENT_HASH_PREFIX + canonical_hash(value)


def canonical_text(value: Any) -> str:
    """The canonical JSON of ``value`` as text (it is ASCII), for files and display."""
    return canonical_json(value).decode("ascii")


def normalize(value: Any) -> Any:
    """Turn a cloud value into plain JSON types, canonically: what the mirror stores.

    Datetimes become their canonical text, tuples lists, and floats that are whole numbers
    integers (Firestore may hand back 12.0 for a field the app wrote as 12; both are the same
    fact and must hash alike). Anything without a canonical form raises ``CanonicalError``.
    """
    kind = type(value)
    # Fast paths for the types cloud documents are mostly made of (exact types, no subclasses).
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {
            key if type(key) is str else str(key): normalize(item) for key, item in value.items()
        }
    if kind is list or kind is tuple:
        return [normalize(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"{value!r} has no JSON form")
        return int(value) if value.is_integer() else value
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, dict):
        return {str(key): normalize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    return _default(value)


def contains_nul(value: Any) -> bool:
    """Whether any string (key or value) inside ``value`` holds a NUL character, which
    Postgres text and jsonb cannot store: such input is refused as invalid, never stored."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False
