"""Weekly figures of a reconciliation: flags by class, and "every cent labelled".

Weeks are ISO weeks (Monday to Sunday) in the studio's time zone, named ``2026-W47``.

- ``by_class``: per class, the number of flags and the amount at stake (``amount_cents``,
  plus the split ``by_currency``). A flag counts in the week its order was created (its
  earliest Stripe object when the order has no creation time).
- ``money``: per week and currency, Stripe's own figures -- succeeded payments, succeeded
  refunds, lost disputes, each in the week the Stripe object was created -- and the same
  cents labelled by where they belong: ``matched`` (an order with no flag), each flag class,
  and ``remainder`` (objects joined to no known order). The identity
  ``payments - refunds - disputes_lost == matched + flagged + remainder`` holds for every
  week; ``remainder_ids`` lists the Stripe objects behind the remainder line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from brain.reconciliation.matcher import (
    CLASSES,
    Flag,
    Reconciliation,
    _int,
    _lower,
    _ref,
    as_datetime,
    is_succeeded_payment,
    payment_amount,
)


def week_of(when: datetime, tz: tzinfo = UTC) -> tuple[str, str]:
    """(``YYYY-Www``, the Monday it starts on) of a time, in the given time zone."""
    local = when.astimezone(tz)
    year, week, weekday = local.isocalendar()
    monday = local.date() - timedelta(days=weekday - 1)
    return f"{year}-W{week:02d}", monday.isoformat()


def class_totals(flags: Iterable[Flag]) -> dict[str, dict[str, Any]]:
    """{class: {count, amount_cents, by_currency}} over the flags, every class present."""
    totals: dict[str, dict[str, Any]] = {
        name: {"count": 0, "amount_cents": 0, "by_currency": {}} for name in CLASSES
    }
    for flag in flags:
        line = totals[flag.flag_class]
        line["count"] += 1
        amount = flag.amount_cents or 0
        line["amount_cents"] += amount
        currency = flag.currency or "unknown"
        line["by_currency"][currency] = line["by_currency"].get(currency, 0) + amount
    return totals


def _empty_money() -> dict[str, Any]:
    return {
        "payments_cents": 0,
        "refunds_cents": 0,
        "disputes_lost_cents": 0,
        "net_cents": 0,
        "matched_cents": 0,
        "flagged_cents": 0,
        "flagged_by_class": {},
        "remainder_cents": 0,
        "remainder_ids": [],
    }


def weekly(result: Reconciliation, tz: tzinfo = UTC) -> list[dict[str, Any]]:
    """One entry per week that has a flag or money, oldest first (see the module docstring)."""
    weeks: dict[str, dict[str, Any]] = {}

    def week(when: datetime) -> dict[str, Any]:
        name, start = week_of(when, tz)
        entry = weeks.get(name)
        if entry is None:
            entry = weeks[name] = {"week": name, "start": start, "flags": [], "money": {}}
        return entry

    for flag in result.flags:
        when = flag.week_at
        if when is not None:
            week(when)["flags"].append(flag)
    label_of = result.flagged_class_of()
    known = result.order_ids

    # Week of a Unix time, cached per quarter hour (every UTC offset is a multiple of 15 min).
    week_cache: dict[int, dict[str, Any]] = {}

    def book(obj: Mapping[str, Any], order_id: str | None, amount: int, column: str) -> None:
        created = _int(obj.get("created"))
        if created is None:
            return
        entry = week_cache.get(created // 900)
        if entry is None:
            when = as_datetime(created)
            if when is None:
                return
            entry = week_cache[created // 900] = week(when)
        currency = _lower(obj.get("currency")) or "unknown"
        money = entry["money"].get(currency)
        if money is None:
            money = entry["money"][currency] = _empty_money()
        sign = 1 if column == "payments_cents" else -1
        money[column] += amount
        money["net_cents"] += sign * amount
        if order_id is None or order_id not in known:
            money["remainder_cents"] += sign * amount
            money["remainder_ids"].append(_ref(obj.get("id")))
        elif order_id in label_of:
            name = label_of[order_id]
            money["flagged_cents"] += sign * amount
            money["flagged_by_class"][name] = money["flagged_by_class"].get(name, 0) + sign * amount
        else:
            money["matched_cents"] += sign * amount

    index = result.index
    for intent, order_id in index.intents:
        if is_succeeded_payment(intent):
            book(intent, order_id, payment_amount(intent) or 0, "payments_cents")
    for refund, order_id in index.refunds:
        if _lower(refund.get("status")) == "succeeded":
            book(refund, order_id, _int(refund.get("amount")) or 0, "refunds_cents")
    for dispute, order_id in index.disputes:
        if _lower(dispute.get("status")) == "lost":
            book(dispute, order_id, _int(dispute.get("amount")) or 0, "disputes_lost_cents")

    entries = []
    for name in sorted(weeks):
        entry = weeks[name]
        for money in entry["money"].values():
            money["remainder_ids"] = sorted(i for i in money["remainder_ids"] if i)
            money["flagged_by_class"] = dict(sorted(money["flagged_by_class"].items()))
        entries.append(
            {
                "week": entry["week"],
                "start": entry["start"],
                "by_class": class_totals(entry["flags"]),
                "money": dict(sorted(entry["money"].items())),
            }
        )
    return entries


def identity_holds(money: Mapping[str, Any]) -> bool:
    """payments - refunds - disputes lost == matched + flagged + remainder, for one week line."""
    left = money["payments_cents"] - money["refunds_cents"] - money["disputes_lost_cents"]
    right = money["matched_cents"] + money["flagged_cents"] + money["remainder_cents"]
    return left == right == money["net_cents"]
