"""Quotas and endpoint limits against the machine's real Redis (and a dead port for 'down')."""

import dataclasses
import threading
import time

import pytest

from governance.actors import Actor
from governance.errors import Denied
from governance.models import PolicyDecision
from governance.ratelimit import (
    Endpoint,
    RateLimitUnavailable,
    limiter_counters,
    limiter_hit,
    quota_limit,
    quota_remaining,
)
from governance.reasons import ReasonCode
from governance.services.ratelimits import endpoint_limit_hit, quota_consume, rate_limit_reset
from tests.governance.conftest import chain

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_limits")]

NOTE = "firestore.ops_note.append"  # 8 calls per hour in the registry
BOT = Actor.agent("ops-bot")


def consume(staff, owner="owner-ada", actor=BOT, capability=NOTE):
    return quota_consume(
        studio_id=staff.studio.pk, owner_id=owner, actor=actor, capability_id=capability
    )


def test_the_quota_is_the_capabilitys_hourly_budget_and_the_ninth_call_waits(staff):
    results = [consume(staff) for _ in range(9)]
    assert [r.allowed for r in results] == [True] * 8 + [False]
    denied = results[-1]
    assert denied.code == ReasonCode.RATE_LIMITED
    assert 3590 <= denied.retry_after <= 3600
    stored = PolicyDecision.objects.get()
    assert (stored.kind, stored.code, stored.retry_after) == (
        "quota",
        "RATE_LIMITED",
        denied.retry_after,
    )
    assert stored.trace.get().passed is False
    assert chain(staff.studio.pk) == [(1, "rate_limit_triggered", "RATE_LIMITED")]


def test_quotas_are_separate_per_owner_actor_capability_and_studio(staff):
    for _ in range(8):
        consume(staff)
    assert not consume(staff).allowed
    assert consume(staff, owner="owner-ben").allowed
    assert consume(staff, actor=Actor.agent("other-bot")).allowed
    assert consume(staff, capability="finance.reconciliation.adjust").allowed
    other = quota_consume(
        studio_id=staff.other_studio.pk, owner_id="owner-ada", actor=BOT, capability_id=NOTE
    )
    assert other.allowed


def test_a_capability_without_a_declared_budget_is_not_counted(staff):
    decision = consume(staff, capability="hubitat.device.command")
    assert decision.allowed and decision.trace[0].passed is None
    assert limiter_counters(staff.studio.pk) == []


def test_the_window_slides_calls_leave_it_one_by_one():
    limit = quota_limit(
        studio_id=999_001,
        owner_id="o",
        actor_type="agent",
        actor_id="a",
        capability_id=NOTE,
        max_calls=2,
        window_seconds=60,
    )
    t0 = 1_800_000_000.0
    assert limiter_hit(limit, now=t0).allowed
    assert limiter_hit(limit, now=t0 + 30).allowed
    blocked = limiter_hit(limit, now=t0 + 31)
    assert not blocked.allowed and blocked.retry_after == 29
    assert limiter_hit(limit, now=t0 + 60.001).allowed  # the first call left the window
    assert not limiter_hit(limit, now=t0 + 61).allowed


def test_concurrent_callers_never_get_more_than_the_limit():
    limit = quota_limit(
        studio_id=999_002,
        owner_id="o",
        actor_type="agent",
        actor_id="a",
        capability_id=NOTE,
        max_calls=10,
        window_seconds=60,
    )
    results = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker():
        start.wait()
        for _ in range(5):
            hit = limiter_hit(limit)
            with lock:
                results.append(hit.allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(results) == 40
    assert results.count(True) == 10


def test_endpoint_limits_are_per_minute_from_the_config(staff, settings):
    settings.BRAIN = dataclasses.replace(settings.BRAIN, rate_limit_proposal_create=3)
    outcomes = [
        endpoint_limit_hit(studio_id=staff.studio.pk, endpoint=Endpoint.PROPOSAL_CREATE, actor=BOT)
        for _ in range(4)
    ]
    assert [o.allowed for o in outcomes] == [True, True, True, False]
    assert 1 <= outcomes[-1].retry_after <= 60
    assert PolicyDecision.objects.get().kind == "rate_limit"
    assert chain(staff.studio.pk) == [(1, "rate_limit_triggered", "RATE_LIMITED")]


def test_redis_down_denies_quota_checks_fail_safe_and_says_so(staff, redis_down):
    started = time.monotonic()
    decision = consume(staff)
    assert time.monotonic() - started < 2  # no retries with backoff against a dead store
    assert not decision.allowed
    assert decision.code == ReasonCode.RATE_LIMIT_UNAVAILABLE
    assert chain(staff.studio.pk) == [(1, "rate_limit_unavailable", "RATE_LIMIT_UNAVAILABLE")]
    endpoint = endpoint_limit_hit(studio_id=staff.studio.pk, endpoint=Endpoint.EXECUTE, actor=BOT)
    assert endpoint.code == ReasonCode.RATE_LIMIT_UNAVAILABLE
    with pytest.raises(RateLimitUnavailable):
        limiter_counters(staff.studio.pk)


def test_counters_list_what_is_live_and_an_admin_resets_one(staff):
    for _ in range(3):
        consume(staff)
    endpoint_limit_hit(studio_id=staff.studio.pk, endpoint=Endpoint.PROPOSAL_CREATE, actor=BOT)
    counters = {c.parts["kind"]: c for c in limiter_counters(staff.studio.pk)}
    assert counters["quota"].count == 3
    assert counters["quota"].parts["capability"] == NOTE
    assert counters["endpoint"].count == 1
    assert (
        quota_remaining(
            studio_id=staff.studio.pk,
            owner_id="owner-ada",
            actor_type="agent",
            actor_id="ops-bot",
            capability_id=NOTE,
        )
        == 5
    )
    assert rate_limit_reset(
        studio=staff.studio, key=counters["quota"].key, actor=Actor.staff(staff.admin)
    )
    assert {c.parts["kind"] for c in limiter_counters(staff.studio.pk)} == {"endpoint"}
    assert chain(staff.studio.pk)[-1] == (1, "rate_limit.reset", "ALLOWED")


def test_only_an_admin_resets_and_only_their_studios_counters(staff):
    consume(staff)
    key = limiter_counters(staff.studio.pk)[0].key
    with pytest.raises(Denied) as denied:
        rate_limit_reset(studio=staff.studio, key=key, actor=Actor.staff(staff.approver))
    assert denied.value.code == ReasonCode.ROLE_REQUIRED
    with pytest.raises(Denied) as denied:
        rate_limit_reset(studio=staff.other_studio, key=key, actor=Actor.staff(staff.outsider))
    assert denied.value.code == ReasonCode.TENANT_MISMATCH
    assert limiter_counters(staff.studio.pk)[0].count == 1


def test_a_reset_that_cannot_reach_redis_is_not_recorded_as_done(staff, settings):
    consume(staff)
    key = limiter_counters(staff.studio.pk)[0].key
    from tests.policy_support import DOWN_REDIS

    settings.BRAIN = dataclasses.replace(settings.BRAIN, redis_url=DOWN_REDIS)
    with pytest.raises(Denied) as denied:
        rate_limit_reset(studio=staff.studio, key=key, actor=Actor.staff(staff.admin))
    assert denied.value.code == ReasonCode.RATE_LIMIT_UNAVAILABLE
    assert [a for _, a, _ in chain(staff.studio.pk)] == ["rate_limit.reset_denied"]
