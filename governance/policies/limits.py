"""Quotas and endpoint rate limits: which limit applies to a call, and how its key reads.

Two kinds of limit (DOMAIN.md "Agents, delegation, quotas"):

- a **quota** per (studio, owner, actor, capability): at most the capability's
  ``max_calls_per_hour`` (from the registry) per ``BRAIN_QUOTA_WINDOW`` (default 1 h);
- an **endpoint limit** per (studio, endpoint, caller): per minute, with the numbers in
  the config contract (``BRAIN_RATE_LIMIT_*``: create proposal 20, execute 20, intake
  override 10, marketing review 20).

Both count over a sliding window (every call's time is kept for one window), so there is
no burst of twice the limit across a window boundary. The numbers live in the config
contract and the registry; this module only maps names to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, unquote

KEY_PREFIX = "brain:rl"
ENDPOINT_WINDOW_SECONDS = 60


class Endpoint(StrEnum):
    PROPOSAL_CREATE = "proposal_create"
    EXECUTE = "execute"
    INTAKE_OVERRIDE = "intake_override"
    MARKETING_REVIEW = "marketing_review"


# Which config-contract attribute holds each endpoint's per-minute limit.
ENDPOINT_SETTINGS: dict[Endpoint, str] = {
    Endpoint.PROPOSAL_CREATE: "rate_limit_proposal_create",
    Endpoint.EXECUTE: "rate_limit_execute",
    Endpoint.INTAKE_OVERRIDE: "rate_limit_intake_override",
    Endpoint.MARKETING_REVIEW: "rate_limit_marketing_review",
}


@dataclass(frozen=True)
class Limit:
    """``limit`` calls per ``window_seconds`` under ``key``."""

    key: str
    limit: int
    window_seconds: int
    kind: str  # quota | endpoint
    labels: dict[str, str]


def _part(value: str | int) -> str:
    # Ids may hold ':'; quoting keeps every key splittable back into its parts.
    return quote(str(value), safe="")


def quota_limit(
    *,
    studio_id: int,
    owner_id: str,
    actor_type: str,
    actor_id: str,
    capability_id: str,
    max_calls: int,
    window_seconds: int,
) -> Limit:
    parts = ["quota", capability_id, owner_id, actor_type, actor_id]
    return Limit(
        key=":".join([KEY_PREFIX, str(studio_id), *(_part(p) for p in parts)]),
        limit=max_calls,
        window_seconds=window_seconds,
        kind="quota",
        labels={
            "capability": capability_id,
            "owner": owner_id,
            "actor": f"{actor_type}:{actor_id}",
        },
    )


def endpoint_limit(
    *, studio_id: int, endpoint: Endpoint, actor_type: str, actor_id: str, config: Any
) -> Limit:
    parts = ["endpoint", str(endpoint), actor_type, actor_id]
    return Limit(
        key=":".join([KEY_PREFIX, str(studio_id), *(_part(p) for p in parts)]),
        limit=int(getattr(config, ENDPOINT_SETTINGS[endpoint])),
        window_seconds=ENDPOINT_WINDOW_SECONDS,
        kind="endpoint",
        labels={"endpoint": str(endpoint), "actor": f"{actor_type}:{actor_id}"},
    )


def studio_pattern(studio_id: int) -> str:
    """The SCAN pattern of every counter of one studio."""
    return f"{KEY_PREFIX}:{int(studio_id)}:*"


def parse_key(key: str) -> dict[str, str] | None:
    """The parts of a counter key, or None when it is not one of ours."""
    pieces = key.split(":")
    if len(pieces) < 4 or ":".join(pieces[:2]) != KEY_PREFIX:
        return None
    studio, kind, *rest = pieces[2:]
    values = [unquote(p) for p in rest]
    if kind == "quota" and len(values) == 4:
        capability, owner, actor_type, actor_id = values
        return {
            "studio": studio,
            "kind": kind,
            "capability": capability,
            "owner": owner,
            "actor": f"{actor_type}:{actor_id}",
        }
    if kind == "endpoint" and len(values) == 3:
        endpoint, actor_type, actor_id = values
        return {
            "studio": studio,
            "kind": kind,
            "endpoint": endpoint,
            "actor": f"{actor_type}:{actor_id}",
        }
    return None


def retry_after_seconds(*, oldest_ms: float, window_ms: float, now_ms: float) -> int:
    """Whole seconds until the oldest counted call leaves the window (at least 1)."""
    return max(1, math.ceil((oldest_ms + window_ms - now_ms) / 1000))
