"""A synthetic mirror for reconciliation tests and the bench: n orders and their Stripe objects
written straight into ``CloudRecord`` (derived rows), plus a snapshot that read Stripe.

Per ``period`` orders (default 20): 1 stuck checkout, 1 amount mismatch, 1 duplicate payment, 1 whole refund, 1
partial refund (clean), 1 open dispute, 1 cancelled with an expired session (clean), the
rest clean and paid. About 3.5 Stripe objects per order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from brain.models import CloudRecord, Snapshot, Studio
from brain.state.warnings import SnapshotWarning
from connectors.sdk.canonical import canonical_hash, format_time
from tests.factories import CloudRecordFactory, SnapshotFactory

READ_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADJUST_NOTE = "Customer paid the new price"
EXPECTED = {
    1: "checkout_stuck_pending",
    2: "amount_mismatch",
    3: "duplicate_payment",
    4: "refund_not_reflected",
    6: "dispute_not_reflected",
}


def mirror_rows(
    n: int, period: int = 20
) -> tuple[list[tuple[str, str, str, dict[str, Any]]], dict[str, str]]:
    """(source, collection, id, data) rows and {order id: expected class}."""
    rows: list[tuple[str, str, str, dict[str, Any]]] = []
    expected: dict[str, str] = {}
    for i in range(n):
        kind = i % period
        order_id = f"ord{i:07d}"
        created = READ_AT - timedelta(days=2 + i % 60, minutes=i % 1440)
        ts = int(created.timestamp())
        total = 1000 + (i % 37) * 100
        status = {1: "checkout_pending", 7: "cancelled"}.get(kind, "paid")
        rows.append(
            (
                "firestore",
                "materialsOrders",
                order_id,
                {
                    "uid": f"u{i % 997}",
                    "status": status,
                    "totalCents": total,
                    "currency": "gbp",
                    "createdAt": format_time(created),
                    "stripeSessionId": f"cs_{i}",
                },
            )
        )
        if kind in EXPECTED:
            expected[order_id] = EXPECTED[kind]
        meta = {"orderId": order_id, "uid": f"u{i % 997}"}
        paid = status == "paid"
        rows.append(
            (
                "stripe",
                "checkout_sessions",
                f"cs_{i}",
                {
                    "id": f"cs_{i}",
                    "client_reference_id": order_id,
                    "metadata": meta,
                    "status": "complete" if paid else ("expired" if kind == 7 else "open"),
                    "payment_status": "paid" if paid else "unpaid",
                    "payment_intent": f"pi_{i}" if paid else None,
                    "amount_total": total,
                    "currency": "gbp",
                    "created": ts,
                },
            )
        )
        if not paid:
            continue
        intents = [f"pi_{i}"] + ([f"pi_{i}_dup"] if kind == 3 else [])
        for pi in intents:
            amount = total + (100 if kind == 2 else 0)
            rows.append(
                (
                    "stripe",
                    "payment_intents",
                    pi,
                    {
                        "id": pi,
                        "status": "succeeded",
                        "amount": amount,
                        "amount_received": amount,
                        "currency": "gbp",
                        "metadata": meta,
                        "latest_charge": f"ch_{pi[3:]}",
                        "created": ts,
                    },
                )
            )
            rows.append(
                (
                    "stripe",
                    "charges",
                    f"ch_{pi[3:]}",
                    {
                        "id": f"ch_{pi[3:]}",
                        "status": "succeeded",
                        "amount": amount,
                        "currency": "gbp",
                        "payment_intent": pi,
                        "metadata": {},
                        "balance_transaction": f"txn_{pi[3:]}",
                        "created": ts + 5,
                    },
                )
            )
            if i % 2 == 0:  # the mirror holds balance transactions reconciliation does not read
                rows.append(
                    (
                        "stripe",
                        "balance_transactions",
                        f"txn_{pi[3:]}",
                        {"id": f"txn_{pi[3:]}", "amount": amount, "source": f"ch_{pi[3:]}"},
                    )
                )
        if kind in (4, 5):
            rows.append(
                (
                    "stripe",
                    "refunds",
                    f"re_{i}",
                    {
                        "id": f"re_{i}",
                        "status": "succeeded",
                        "amount": total if kind == 4 else total // 2,
                        "charge": f"ch_{i}",
                        "payment_intent": f"pi_{i}",
                        "currency": "gbp",
                        "created": ts + 86400,
                    },
                )
            )
        if kind == 6:
            rows.append(
                (
                    "stripe",
                    "disputes",
                    f"dp_{i}",
                    {
                        "id": f"dp_{i}",
                        "status": "needs_response",
                        "amount": total,
                        "charge": f"ch_{i}",
                        "payment_intent": f"pi_{i}",
                        "currency": "gbp",
                        "created": ts + 2 * 86400,
                    },
                )
            )
    return rows, expected


def seed_mirror(
    studio: Studio, n: int, *, read_at: datetime = READ_AT, period: int = 20
) -> dict[str, str]:
    """Write n orders' mirror and a snapshot that read Stripe at ``read_at``; return the
    expected {order id: class}."""
    rows, expected = mirror_rows(n, period)
    CloudRecord.objects.bulk_create(
        [
            CloudRecordFactory.build(
                studio=studio,
                source=source,
                collection=collection,
                doc_id=doc_id,
                data=data,
                read_at=read_at,
            )
            for source, collection, doc_id, data in rows
        ],
        batch_size=5000,
    )
    snapshot_at(studio, read_at)
    return expected


def snapshot_at(
    studio: Studio, stripe_read_at: datetime | None, warnings: list[SnapshotWarning] | None = None
) -> Snapshot:
    content = {"diagnostics": {"completeness": "full", "warnings": warnings or []}}
    return SnapshotFactory(
        studio=studio,
        kind=Snapshot.Kind.CAPTURE,
        snapshot_date=(stripe_read_at or READ_AT).date(),
        generated_at=(stripe_read_at or READ_AT) + timedelta(seconds=1),
        firestore_read_at=stripe_read_at or READ_AT,
        stripe_read_at=stripe_read_at,
        data_source="demo",
        content=content,
        content_hash=canonical_hash(content),
        completeness="partial" if warnings else "full",
    )


def adjustment_input(flag: Any, /, **changes: Any) -> dict[str, Any]:
    """A ``finance.reconciliation.adjust`` input made from ``flag`` (with ``changes``)."""
    data = {
        "order_collection": flag.order_collection,
        "order_id": flag.order_id,
        "flag": flag.flag_class,
        "flag_id": flag.pk,
        "evidence": flag.evidence,
        "note": ADJUST_NOTE,
    }
    return {**data, **changes}


def propose_adjustment(staff: Any, flag: Any, /, **changes: Any) -> Any:
    """The staff fixture's operator proposes an adjustment of ``flag``."""
    from governance.actors import Actor
    from governance.services.proposals import proposal_submit

    return proposal_submit(
        studio=staff.studio,
        capability_id="finance.reconciliation.adjust",
        input=adjustment_input(flag, **changes),
        rationale="Reconciliation flag from this week's run",
        actor=Actor.staff(staff.operator),
    )
