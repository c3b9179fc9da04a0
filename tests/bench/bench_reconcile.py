"""Finance reconciliation benchmark (issue 11): 20,000 orders against ~70,000 Stripe objects.

Runs against its own database (``<DATABASE_URL's name>_bench_reconcile``, dropped and
recreated). The mirror is seeded with ``tests/brain/reconciliation/seed.py``: per
``--period`` orders (default 100) one discrepancy of each of five kinds and two clean
look-alikes, so 5% of orders flag by default; about 3.5 Stripe objects per order. Figures:

1. load: the selector's one query, rows into plain dicts (the shared part);
2. bare hash join: load + one dict per join key, every order looked up (the floor);
3. matcher: load + ``reconcile`` + the weekly summary -- vs 2 (goal <= 2x);
4. the whole run (``reconciliation_run``: load, match, summary, run row and flag upserts),
   first run (every flag new) and steady state (every flag seen again) -- vs 2, and in
   absolute time (goal <= 5 s);
5. the run's query count at 2,000 and at 20,000 orders (must be equal).

    python -m tests.bench.bench_reconcile [--orders N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from tests.bench.benchdb import setup_django


def bare_hash_join(orders: list[Any], stripe: dict[str, list[dict[str, Any]]]) -> list[Any]:
    """The same joins as the matcher with nothing else: one dict per key, one lookup per order."""
    by_order: dict[str, list[dict[str, Any]]] = {}
    intent_order: dict[str, str] = {}
    for intent in stripe["payment_intents"]:
        order_id = (intent.get("metadata") or {}).get("orderId")
        if order_id:
            by_order.setdefault(order_id, []).append(intent)
            intent_order[intent["id"]] = order_id
    for session in stripe["checkout_sessions"]:
        order_id = (session.get("metadata") or {}).get("orderId") or session.get(
            "client_reference_id"
        )
        if order_id:
            by_order.setdefault(order_id, []).append(session)
    charge_order: dict[str, str] = {}
    for charge in stripe["charges"]:
        order_id = (charge.get("metadata") or {}).get("orderId") or intent_order.get(
            charge.get("payment_intent") or ""
        )
        if order_id:
            by_order.setdefault(order_id, []).append(charge)
            charge_order[charge["id"]] = order_id
    for obj in stripe["refunds"] + stripe["disputes"]:
        order_id = charge_order.get(obj.get("charge") or "") or intent_order.get(
            obj.get("payment_intent") or ""
        )
        if order_id:
            by_order.setdefault(order_id, []).append(obj)
    return [(order, by_order.get(order.id, ())) for order in orders]


def _best(fn: Callable[[], Any], repeat: int) -> float:
    """The best of ``repeat`` timings, each after a full collection (the previous iteration's
    garbage must not be charged to the next)."""
    timings = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return min(timings)


def _queries(fn: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        fn()
    return len(context)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--period", type=int, default=100, help="orders per 5 discrepancies")
    options = parser.parse_args()
    setup_django("bench_reconcile")

    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from brain.models import CloudRecord, ReconciliationFlag
    from brain.reconciliation.matcher import reconcile
    from brain.reconciliation.summary import weekly
    from brain.selectors import reconciliation_mirror
    from brain.services.reconciliation import reconciliation_run
    from tests.brain.reconciliation.seed import READ_AT, seed_mirror
    from tests.factories import StudioFactory

    soon = READ_AT + timedelta(hours=1)
    studio = StudioFactory(slug="bench-finance", name="Bench Finance")
    seeded = time.perf_counter()
    seed_mirror(studio, options.orders, period=options.period)
    seed_s = time.perf_counter() - seeded
    stripe_in_mirror = CloudRecord.objects.filter(studio=studio, source="stripe").count()

    def load() -> Any:
        return reconciliation_mirror(studio.pk)

    orders, stripe = load()
    loaded_stripe = sum(len(v) for v in stripe.values())

    def joined() -> Any:
        rows_orders, rows_stripe = load()
        return bare_hash_join(rows_orders, rows_stripe)

    def matched() -> Any:
        rows_orders, rows_stripe = load()
        result = reconcile(rows_orders, rows_stripe, stripe_read_at=READ_AT)
        return weekly(result, ZoneInfo(studio.timezone))

    load_s = _best(load, options.repeat)
    join_s = _best(joined, options.repeat)
    match_s = _best(matched, options.repeat)
    join_only = _best(lambda: bare_hash_join(orders, stripe), options.repeat)
    match_only = _best(lambda: reconcile(orders, stripe, stripe_read_at=READ_AT), options.repeat)

    gc.collect()
    started = time.perf_counter()
    first = reconciliation_run(studio=studio, now=soon)
    first_s = time.perf_counter() - started
    steady_s = _best(lambda: reconciliation_run(studio=studio, now=soon), options.repeat)
    flags = ReconciliationFlag.objects.filter(studio=studio, resolved_at__isnull=True).count()

    small = StudioFactory(slug="bench-finance-small", name="Bench Finance Small")
    seed_mirror(small, options.orders // 10, period=options.period)
    queries_small = _queries(lambda: reconciliation_run(studio=small, now=soon))
    other = StudioFactory(slug="bench-finance-large", name="Bench Finance Large")
    seed_mirror(other, options.orders, period=options.period)
    queries_large = _queries(lambda: reconciliation_run(studio=other, now=soon))

    figures = {
        "orders": options.orders,
        "stripe_in_mirror": stripe_in_mirror,
        "stripe_loaded": loaded_stripe,
        "flags": flags,
        "load_s": load_s,
        "join_s": join_s,
        "match_s": match_s,
        "first_run_s": first_s,
        "steady_run_s": steady_s,
        "queries_small": queries_small,
        "queries_large": queries_large,
    }
    print(
        f"reconciliation of {options.orders} orders against {stripe_in_mirror} Stripe objects "
        f"in the mirror ({loaded_stripe} of the five kinds the rules read; seeded in {seed_s:.1f} s); "
        f"{flags} open flags, run status {first.run.status}"
    )
    print(f"  load (one query, rows to dicts):      {load_s:.3f} s")
    print(f"  bare hash join, load included:        {join_s:.3f} s (join alone {join_only:.3f} s)")
    print(
        f"  matcher + weekly summary, load incl.: {match_s:.3f} s -> {match_s / join_s:.2f}x the "
        f"bare join (goal <= 2x); matcher alone {match_only:.3f} s = "
        f"{match_only / join_only:.1f}x the join alone"
    )
    print(
        f"  whole run, first (all flags new):     {first_s:.3f} s -> {first_s / join_s:.2f}x "
        f"(goal <= 2x), absolute goal <= 5 s: {'met' if first_s <= 5 else 'MISSED'}"
    )
    print(
        f"  whole run, steady (flags seen again): {steady_s:.3f} s -> {steady_s / join_s:.2f}x, "
        f"absolute goal <= 5 s: {'met' if steady_s <= 5 else 'MISSED'}"
    )
    print(
        f"  queries per run: {queries_small} at {options.orders // 10} orders, "
        f"{queries_large} at {options.orders} orders "
        f"({'constant' if queries_small == queries_large else 'NOT CONSTANT'})"
    )
    assert queries_small == queries_large, "the run's query count grows with the orders"
    return figures


if __name__ == "__main__":
    main()
