"""Canonical JSON and content hashes: the same value always gives the same bytes.

Rules: keys sorted, no insignificant whitespace, UTF-8, datetimes in UTC ISO-8601 with a
trailing ``Z`` (microseconds only when present), dates ISO, sets sorted, tuples as lists.
Money is carried as integer minor units by the callers; a float that is a whole number is
written as an integer so 12.0 and 12 hash alike, and non-finite floats are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


class CanonicalError(TypeError):
    """A value has no canonical JSON form."""


def normalize(value: Any) -> Any:
    """Turn ``value`` into plain JSON types, canonically."""
    kind = type(value)
    # Fast paths for the types cloud documents are mostly made of (exact types, no subclasses).
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {
            key if type(key) is str else str(key): normalize(item) for key, item in value.items()
        }
    if kind is list:
        return [normalize(item) for item in value]
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"non-finite number {value!r}")
        return int(value) if value.is_integer() else value
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise CanonicalError(f"fractional decimal {value} (carry money as integer minor units)")
        return int(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CanonicalError(f"naive datetime {value.isoformat()} (use UTC-aware datetimes)")
        utc = value.astimezone(UTC)
        text = utc.strftime("%Y-%m-%dT%H:%M:%S")
        if utc.microsecond:
            text += f".{utc.microsecond:06d}"
        return text + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): normalize(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((normalize(item) for item in value), key=canonical_json)
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    raise CanonicalError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> str:
    return json.dumps(
        normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_json_of_normalized(value: Any) -> str:
    """Canonical JSON of a value already passed through ``normalize`` (skips the second walk)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))
