"""Sliding-window counters on Redis, one Lua script per check so a check is atomic.

A counter is a sorted set of call times (ms). The script drops times older than the
window, counts what is left and, under the limit, adds this call — all in one step on the
server, so concurrent callers can never both take the last slot. Over the limit it
answers how long until the oldest call leaves the window (``Retry-After``).

Redis unreachable ⇒ ``RateLimitUnavailable``. Callers that guard a write deny on it
(fail safe); pages that only show counters say the store is unreachable and go on.
The client has short timeouts and no retries: a dead Redis must cost a request
milliseconds, not seconds.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from governance.policies.limits import (
    ENDPOINT_WINDOW_SECONDS,
    Limit,
    parse_key,
    retry_after_seconds,
    studio_pattern,
)

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


_clients: dict[str, tuple[redis.Redis, object]] = {}
_lock = threading.Lock()


def _client() -> tuple[redis.Redis, object]:
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
        allowed, count, oldest = script(  # type: ignore[operator]
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


def limiter_ping() -> float:
    """One bare round trip (for the benchmark's baseline)."""
    client, _ = _client()
    started = time.perf_counter()
    client.ping()
    return time.perf_counter() - started
