"""Weekly figures: flags by class, and every cent of Stripe's money labelled."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from brain.reconciliation.matcher import reconcile
from brain.reconciliation.summary import class_totals, identity_holds, week_of, weekly
from tests.brain.reconciliation.test_matcher import (
    READ_AT,
    TS,
    charge,
    dispute,
    intent,
    order,
    refund,
)


def test_weeks_are_iso_weeks_in_the_studios_time_zone():
    sunday_late_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert week_of(sunday_late_utc) == ("2026-W47", "2026-11-16")
    # 23:30 UTC on Sunday is already Monday in Auckland.
    assert week_of(sunday_late_utc, ZoneInfo("Pacific/Auckland")) == ("2026-W48", "2026-11-23")


def test_every_cent_is_labelled_matched_flagged_or_remainder():
    orders = [order(oid="clean"), order(oid="short"), order(oid="refunded"), order(oid="lost")]
    stripe = {
        "payment_intents": [
            intent("pi_clean", oid="clean"),
            intent("pi_short", oid="short", amount=2000),
            intent("pi_ref", oid="refunded"),
            intent("pi_lost", oid="lost"),
            intent("pi_nobody", oid="ghost", amount=999),  # no such order: remainder
            intent("pi_failed", oid="clean", status="requires_payment_method"),
        ],
        "charges": [
            charge("ch_clean", "pi_clean"),
            charge("ch_ref", "pi_ref"),
            charge("ch_lost", "pi_lost"),
        ],
        # A partial refund on the clean order stays matched money.
        "refunds": [refund("re_part", 400, "ch_clean"), refund("re_all", 2400, "ch_ref")],
        "disputes": [dispute("dp_lost", status="lost", charge_id="ch_lost")],
    }
    result = reconcile(orders, stripe, stripe_read_at=READ_AT)
    assert {f.order.id: f.flag_class for f in result.flags} == {
        "short": "amount_mismatch",
        "refunded": "refund_not_reflected",
        "lost": "dispute_not_reflected",
    }
    weeks = weekly(result)
    lines = [money for week in weeks for money in week["money"].values()]
    assert all(identity_holds(money) for money in lines)
    total = {
        key: sum(money[key] for money in lines)
        for key in (
            "payments_cents",
            "refunds_cents",
            "disputes_lost_cents",
            "matched_cents",
            "flagged_cents",
            "remainder_cents",
        )
    }
    assert total == {
        "payments_cents": 2400 + 2000 + 2400 + 2400 + 999,
        "refunds_cents": 400 + 2400,
        "disputes_lost_cents": 2400,
        "matched_cents": 2400 - 400,
        "flagged_cents": 2000 + (2400 - 2400) + (2400 - 2400),
        "remainder_cents": 999,
    }
    remainder_ids = [i for money in lines for i in money["remainder_ids"]]
    assert remainder_ids == ["pi_nobody"]
    by_class = {}
    for money in lines:
        for name, cents in money["flagged_by_class"].items():
            by_class[name] = by_class.get(name, 0) + cents
    assert by_class == {
        "amount_mismatch": 2000,
        "refund_not_reflected": 0,
        "dispute_not_reflected": 0,
    }


def test_flags_count_in_the_week_their_order_was_created():
    created = datetime.fromtimestamp(TS, UTC)
    result = reconcile([order(oid="a"), order(oid="b")], {}, stripe_read_at=READ_AT)
    weeks = weekly(result)
    assert [w["week"] for w in weeks] == [week_of(created)[0]]
    line = weeks[0]["by_class"]["order_paid_without_payment"]
    assert line == {"count": 2, "amount_cents": 4800, "by_currency": {"gbp": 4800}}


def test_class_totals_name_every_class():
    totals = class_totals([])
    assert len(totals) == 8
    assert all(line["count"] == 0 and line["amount_cents"] == 0 for line in totals.values())
