"""Benchmarks of the policy layer. ``main()`` prints the figures (wall-clock goals are
reported, not tested).

Runs against its own database (``<DATABASE_URL's name>_bench_policy``, dropped and
recreated) and the Redis at REDIS_URL (its counters are removed afterwards):

1. rate limit: one sliding-window check (the Lua script, one round trip) per call, in
   microseconds, vs one bare Redis ``INCR`` on the same connection; also the check
   through the service (``quota_consume``, allowed path) and a denied check.
2. delegation: the decision alone (pure, facts in memory), the decision with its one
   query (``delegation_pending``), and the recorded decision (decision + trace rows + audit
   event, one transaction), vs one bare Postgres round trip (``SELECT 1``); and
   ``resolve_actor`` (token → agent, scopes).

    python -m tests.bench.bench_policy [--calls N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any

from tests.bench.benchdb import setup_django


def _setup_django() -> None:
    setup_django("bench_policy")


def _per_call(fn: Callable[[], Any], calls: int) -> dict[str, float]:
    """Median and p99 of ``calls`` timed calls, in microseconds (after a warm-up)."""
    for _ in range(min(200, calls)):
        fn()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return {
        "p50_us": statistics.median(samples),
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "mean_us": statistics.fmean(samples),
    }


def bench_rate_limit(calls: int) -> dict[str, Any]:
    from governance.actors import Actor
    from governance.ratelimit import _client, limiter_hit, quota_limit
    from governance.services.ratelimits import quota_consume
    from tests.factories import StudioFactory

    client, _ = _client()
    roomy = quota_limit(
        studio_id=987_654,
        owner_id="bench-owner",
        actor_type="agent",
        actor_id="bench-bot",
        capability_id="firestore.ops_note.append",
        max_calls=10**9,
        window_seconds=60,
    )
    full = quota_limit(
        studio_id=987_654,
        owner_id="bench-owner",
        actor_type="agent",
        actor_id="bench-full",
        capability_id="firestore.ops_note.append",
        max_calls=1,
        window_seconds=3600,
    )
    incr_key = "brain:rl:987654:bench-incr"
    studio = StudioFactory(slug="bench-limits", name="Bench Limits")
    try:
        incr = _per_call(lambda: client.incr(incr_key), calls)
        hit = _per_call(lambda: limiter_hit(roomy), calls)
        # The window holds every call: trim it so the set stays the size a real limit allows.
        client.delete(roomy.key)
        limiter_hit(full)
        denied = _per_call(lambda: limiter_hit(full), calls)
        # The service, allowed path (no denial: nothing is written to the database), within
        # the capability's 120 calls an hour.
        service = _per_call(
            lambda: quota_consume(
                studio_id=studio.pk,
                owner_id="bench-owner",
                actor=Actor.agent("bench-bot"),
                capability_id="hubitat.devices.read",
            ),
            50,  # plus 50 warm-up calls: 100, inside the capability's 120 an hour
        )
    finally:
        keys = [
            *client.scan_iter(match="brain:rl:987654:*"),
            *client.scan_iter(match=f"brain:rl:{studio.pk}:*"),
        ]
        if keys:
            client.delete(*keys)
    return {
        "incr": incr,
        "hit": hit,
        "denied": denied,
        "service": service,
        "overhead_us": hit["p50_us"] - incr["p50_us"],
        "ratio": hit["p50_us"] / incr["p50_us"],
    }


def bench_delegation(calls: int) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from brain.models import Role
    from governance.models import AgentSource
    from governance.policies.delegation import DelegationFacts, evaluate_delegation
    from governance.selectors.policy import delegation_facts
    from governance.services.agents import resolve_actor, token_issue
    from governance.services.delegations import delegation_decision, delegation_pending
    from tests.factories import (
        AgentClientFactory,
        DelegationFactory,
        MembershipFactory,
        StudioFactory,
        UserFactory,
    )

    now = timezone.now()
    studio = StudioFactory(slug="bench-policy", name="Bench Policy")
    admin = UserFactory(username="bench-admin", password="x" * 20)
    MembershipFactory(user=admin, studio=studio, role=Role.ADMIN)
    agent = AgentClientFactory(
        studio=studio,
        agent_id="ops-bot",
        source=AgentSource.CLOUD,
        name="Ops Bot",
        owner_id="owner-ada",
        created_at=now,
        updated_at=now,
    )
    # A realistic handful: delegations from several owners, one of them the right one.
    for n, owner in enumerate(("owner-ada", "owner-ben", "owner-cy", "owner-di", "owner-ed")):
        DelegationFactory(
            studio=studio,
            source=AgentSource.CLOUD,
            cloud_doc_id=f"d{n}",
            agent_id="ops-bot",
            owner_id=owner,
            scopes=["capability:firestore.ops_note.append:execute"],
            issued_at=now - dt.timedelta(days=1),
            expires_at=now + dt.timedelta(days=30),
            created_at=now,
        )
    from governance.actors import Actor

    _, token = token_issue(studio=studio, agent_pk=agent.pk, actor=Actor.staff(admin))
    actor = resolve_actor(token)
    assert actor is not None
    facts = delegation_facts(studio.pk, "ops-bot")
    assert isinstance(facts[0], DelegationFacts)

    def pure() -> None:
        evaluate_delegation(
            actor_type="agent",
            actor_id="ops-bot",
            capability_id="firestore.ops_note.append",
            resource_owner_id="owner-ada",
            at=now,
            delegations=facts,
        )

    def with_query() -> None:
        delegation_pending(
            actor=actor,
            capability_id="firestore.ops_note.append",
            resource_owner_id="owner-ada",
        )

    def recorded() -> None:
        delegation_decision(
            actor=actor, capability_id="firestore.ops_note.append", resource_owner_id="owner-ada"
        )

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    bare = _per_call(select_one, calls)
    return {
        "pure": _per_call(pure, calls),
        "with_query": _per_call(with_query, calls),
        "recorded": _per_call(recorded, min(calls, 1000)),
        "resolve_actor": _per_call(lambda: resolve_actor(token), calls),
        "select_1": bare,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args(argv)
    _setup_django()
    figures: dict[str, Any] = {}
    limit = bench_rate_limit(args.calls)
    figures["rate_limit"] = limit
    print(
        f"rate-limit check (Lua sliding window, {args.calls} calls): p50 "
        f"{limit['hit']['p50_us']:.0f} µs, p99 {limit['hit']['p99_us']:.0f} µs; "
        f"bare Redis INCR p50 {limit['incr']['p50_us']:.0f} µs, p99 {limit['incr']['p99_us']:.0f} µs; "
        f"overhead {limit['overhead_us']:.0f} µs per call ({limit['ratio']:.2f}x INCR); "
        f"denied check p50 {limit['denied']['p50_us']:.0f} µs; "
        f"quota_consume service p50 {limit['service']['p50_us']:.0f} µs"
    )
    delegation = bench_delegation(args.calls)
    figures["delegation"] = delegation
    print(
        f"delegation decision: pure p50 {delegation['pure']['p50_us']:.0f} µs; with its query "
        f"p50 {delegation['with_query']['p50_us']:.0f} µs (p99 {delegation['with_query']['p99_us']:.0f}); "
        f"recorded with trace and audit p50 {delegation['recorded']['p50_us'] / 1000:.2f} ms "
        f"(p99 {delegation['recorded']['p99_us'] / 1000:.2f} ms); resolve_actor p50 "
        f"{delegation['resolve_actor']['p50_us']:.0f} µs; bare SELECT 1 p50 "
        f"{delegation['select_1']['p50_us']:.0f} µs"
    )
    return figures


if __name__ == "__main__":
    main()
