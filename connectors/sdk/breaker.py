"""A circuit breaker per connector instance, its state in Redis so every process shares it.

States: ``closed`` (calls pass; consecutive failures are counted), ``open`` (calls are
refused without I/O until ``open_until``), ``half_open`` (the open period is over and
exactly one caller holds the probe slot; everyone else is still refused). A good probe
closes the breaker; a failed probe re-opens it with twice the previous backoff, from
1 s up to 30 s (docs/domain.md: opens after 3 consecutive failures, 1 s doubling to 30 s).

Each transition is one Lua script, so two workers can never both take the probe slot or
both reset the counter; times come from Redis' own clock (``TIME``), so hosts with skewed
clocks still agree on when the breaker may half-open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

KEY_PREFIX = "brain:breaker:"

# KEYS[1] state hash. ARGV: probe_ttl_ms. Returns {decision, state, retry_in_ms}.
# decision: 1 = pass, 2 = pass as the single probe, 0 = refused.
_ALLOW = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then
  return {1, 'closed', 0}
end
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if now_ms < open_until then
  return {0, 'open', open_until - now_ms}
end
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if probe_until > now_ms then
  return {0, 'half_open', probe_until - now_ms}
end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now_ms + tonumber(ARGV[1]))
return {2, 'half_open', 0}
"""

_SUCCESS = """
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'backoff_ms', 0, 'open_until', 0,
           'probe_until', 0)
return 1
"""

# ARGV: threshold, initial_ms, max_ms, was_probe. Returns {state, failures, backoff_ms}.
# Only a failed probe doubles the backoff; a call admitted before the breaker opened that
# fails late is counted but does not extend the open period.
_FAILURE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local backoff = tonumber(redis.call('HGET', KEYS[1], 'backoff_ms') or '0')
if state == 'half_open' and ARGV[4] == '1' then
  backoff = math.min(math.max(backoff * 2, tonumber(ARGV[2])), tonumber(ARGV[3]))
elseif state == 'closed' and failures >= tonumber(ARGV[1]) then
  backoff = tonumber(ARGV[2])
else
  return {state, failures, backoff}
end
redis.call('HSET', KEYS[1], 'state', 'open', 'backoff_ms', backoff, 'open_until', now_ms + backoff,
           'probe_until', 0)
return {'open', failures, backoff}
"""


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 3
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    # How long a probe may hold the slot before another caller may probe (a probe whose
    # process died must not keep the breaker half-open for ever).
    probe_ttl: float = 30.0


@dataclass(frozen=True)
class Admission:
    allowed: bool
    probe: bool
    state: str
    retry_in: float


@dataclass(frozen=True)
class BreakerSnapshot:
    state: str
    failures: int
    backoff: float
    open_until_ms: int

    @property
    def label(self) -> str:
        return {"closed": "Closed", "open": "Open", "half_open": "Half-open (probing)"}.get(
            self.state, self.state
        )

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "failures": self.failures, "backoff_s": self.backoff}


class CircuitBreaker:
    """The breaker of one connector instance (``instance_id`` is stable across processes)."""

    def __init__(
        self, client: redis.Redis, instance_id: str, policy: BreakerPolicy | None = None
    ) -> None:
        self.client = client
        self.key = KEY_PREFIX + instance_id
        self.policy = policy or BreakerPolicy()
        self._allow = client.register_script(_ALLOW)
        self._success = client.register_script(_SUCCESS)
        self._failure = client.register_script(_FAILURE)

    def admit(self) -> Admission:
        decision, state, retry_ms = self._allow(
            keys=[self.key], args=[int(self.policy.probe_ttl * 1000)]
        )
        return Admission(
            allowed=int(decision) > 0,
            probe=int(decision) == 2,
            state=_text(state),
            retry_in=int(retry_ms) / 1000,
        )

    def record_success(self) -> None:
        self._success(keys=[self.key])

    def record_failure(self, *, probe: bool = False) -> str:
        state, _failures, _backoff = self._failure(
            keys=[self.key],
            args=[
                self.policy.failure_threshold,
                int(self.policy.initial_backoff * 1000),
                int(self.policy.max_backoff * 1000),
                1 if probe else 0,
            ],
        )
        return _text(state)

    def snapshot(self) -> BreakerSnapshot:
        return snapshot_from_hash(self.client.hgetall(self.key))

    def reset(self) -> None:
        self.client.delete(self.key)


def snapshot_from_hash(raw: dict[Any, Any]) -> BreakerSnapshot:
    data = {_text(k): _text(v) for k, v in raw.items()}
    return BreakerSnapshot(
        state=data.get("state", "closed"),
        failures=int(data.get("failures", 0) or 0),
        backoff=int(data.get("backoff_ms", 0) or 0) / 1000,
        open_until_ms=int(data.get("open_until", 0) or 0),
    )


def breaker_snapshots(client: redis.Redis, instance_ids: list[str]) -> dict[str, BreakerSnapshot]:
    """Every breaker's state in one round trip, for pages that list many connectors."""
    if not instance_ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for instance_id in instance_ids:
        pipe.hgetall(KEY_PREFIX + instance_id)
    return {
        iid: snapshot_from_hash(raw) for iid, raw in zip(instance_ids, pipe.execute(), strict=True)
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
