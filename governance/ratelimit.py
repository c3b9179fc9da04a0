"""Rate limiting: which limit applies to a call, how its key reads, and the Redis counters.

Two kinds of limit (docs/domain.md "Agents, delegation, quotas"):

- a **quota** per (studio, owner, actor, capability): at most the capability's
  ``max_calls_per_hour`` (from the registry) per ``BRAIN_QUOTA_WINDOW`` (default 1 h);
- an **endpoint limit** per (studio, endpoint, caller): per minute, with the numbers in
  the config contract (``BRAIN_RATE_LIMIT_*``: create proposal 20, execute 20, intake
  override 10, marketing review 20).

Both count over a sliding window (every call's time is kept for one window), so there is
no burst of twice the limit across a window boundary. A counter is a sorted set of call
times (ms) on Redis, and one Lua script per check makes a check atomic: it drops times
older than the window, counts what is left and, under the limit, adds this call — all in
one step on the server, so concurrent callers can never both take the last slot. Over the
limit it answers how long until the oldest call leaves the window (``Retry-After``).

Redis unreachable ⇒ ``RateLimitUnavailable``. Callers that guard a write deny on it
(fail safe); pages that only show counters say the store is unreachable and go on.
The client has short timeouts and no retries: a dead Redis must cost a request
milliseconds, not seconds.

This module stores no decision and writes no audit row: the decisions a limit takes, and
an admin's audited reset of a counter, are ``governance.services.ratelimits``.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, unquote

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from governance.capabilities import capability_spec
from governance.enums import ActorType

# -- which limit applies, its key and the window maths (no I/O) ------------------------------------

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


def window_words(seconds: int) -> str:
    """A window in words for messages: "hour", "2 hours", "minute", "90 s"."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} s"


# -- the counters on Redis -------------------------------------------------------------------------

CONNECT_TIMEOUT = 0.25
SOCKET_TIMEOUT = 0.5

# KEYS[1] the counter; ARGV: now (ms), window (ms), limit, member (unique per call).
# Returns {allowed (0/1), count after the call, oldest time in the window (ms) or -1}.
HIT_SCRIPT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, count, oldest[2] or '-1'}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return {1, count + 1, '-1'}
"""


class RateLimitUnavailable(Exception):
    """The counter store cannot be reached (or answered nonsense)."""


@dataclass(frozen=True)
class Hit:
    allowed: bool
    count: int
    limit: int
    window_seconds: int
    retry_after: int | None


@dataclass(frozen=True)
class Counter:
    """A live counter, for the Policy page."""

    key: str
    parts: dict[str, str]
    count: int
    ttl_seconds: int


_clients: dict[str, tuple[redis.Redis, Script]] = {}
_lock = threading.Lock()


def _client() -> tuple[redis.Redis, Script]:
    """A client (and the registered script) for the configured Redis, made once per URL."""
    url = settings.BRAIN.redis_url or ""
    with _lock:
        found = _clients.get(url)
        if found is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
            found = (client, client.register_script(HIT_SCRIPT))
            _clients[url] = found
    return found


def limiter_hit(limit: Limit, *, now: float | None = None) -> Hit:
    """Count one call against ``limit`` if there is room; say when to retry if not."""
    _, script = _client()
    now_ms = (time.time() if now is None else now) * 1000
    window_ms = limit.window_seconds * 1000
    try:
        allowed, count, oldest = script(
            keys=[limit.key], args=[now_ms, window_ms, limit.limit, uuid.uuid4().hex]
        )
    except (redis.RedisError, OSError, ValueError) as error:
        raise RateLimitUnavailable(f"{type(error).__name__}: {error}") from error
    retry_after = None
    if not allowed:
        oldest_ms = float(oldest) if float(oldest) >= 0 else now_ms
        retry_after = retry_after_seconds(oldest_ms=oldest_ms, window_ms=window_ms, now_ms=now_ms)
    return Hit(bool(allowed), int(count), limit.limit, limit.window_seconds, retry_after)


def window_seconds_of(parts: dict[str, str]) -> int:
    """The window a counter counts over, from its kind."""
    if parts["kind"] == "endpoint":
        return ENDPOINT_WINDOW_SECONDS
    return int(settings.BRAIN.quota_window.total_seconds())


def limiter_counters(studio_id: int, *, now: float | None = None) -> list[Counter]:
    """Every live counter of a studio with its count inside the current window."""
    client, _ = _client()
    now_ms = (time.time() if now is None else now) * 1000
    try:
        keyed = [
            (key, parts)
            for key in sorted(client.scan_iter(match=studio_pattern(studio_id), count=500))
            if (parts := parse_key(key)) is not None
        ]
        if not keyed:
            return []
        pipe = client.pipeline(transaction=False)
        for key, parts in keyed:
            pipe.zcount(key, f"({now_ms - window_seconds_of(parts) * 1000}", "+inf")
            pipe.pttl(key)
        replies = pipe.execute()
    except (redis.RedisError, OSError) as error:
        raise RateLimitUnavailable(f"{type(error).__name__}: {error}") from error
    counters = []
    for index, (key, parts) in enumerate(keyed):
        count, ttl_ms = replies[index * 2], replies[index * 2 + 1]
        if not count or ttl_ms is None or ttl_ms < 0:
            continue  # empty or expiring this instant: nothing to show
        counters.append(
            Counter(key=key, parts=parts, count=int(count), ttl_seconds=max(1, int(ttl_ms) // 1000))
        )
    return counters


def limiter_count(limit: Limit, *, now: float | None = None) -> int:
    """Calls counted in the current window (no call is added)."""
    client, _ = _client()
    now_ms = (time.time() if now is None else now) * 1000
    try:
        return int(client.zcount(limit.key, f"({now_ms - limit.window_seconds * 1000}", "+inf"))
    except (redis.RedisError, OSError) as error:
        raise RateLimitUnavailable(f"{type(error).__name__}: {error}") from error


def limiter_reset(key: str) -> bool:
    """Forget a counter. True when it existed."""
    client, _ = _client()
    try:
        return bool(client.delete(key))
    except (redis.RedisError, OSError) as error:
        raise RateLimitUnavailable(f"{type(error).__name__}: {error}") from error


def quota_remaining(
    *, studio_id: int, owner_id: str, actor_type: ActorType, actor_id: str, capability_id: str
) -> int | None:
    """Calls left in the current window (None: no budget declared). Raises
    ``RateLimitUnavailable`` when Redis cannot be reached."""
    spec = capability_spec(capability_id)
    if spec.max_calls_per_hour is None:
        return None
    limit = quota_limit(
        studio_id=studio_id,
        owner_id=owner_id,
        actor_type=str(actor_type),
        actor_id=actor_id,
        capability_id=capability_id,
        max_calls=spec.max_calls_per_hour,
        window_seconds=int(settings.BRAIN.quota_window.total_seconds()),
    )
    return max(0, limit.limit - limiter_count(limit))
