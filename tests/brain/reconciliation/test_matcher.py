"""docs/domain.md's reconciliation rules on small hand-made cases: each class, the precedence
between them, and the look-alikes that must not flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brain.reconciliation.matcher import CLASSES, Order, confidence_of, reconcile

READ_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OLD = (READ_AT - timedelta(days=3)).isoformat().replace("+00:00", "Z")
FRESH = (READ_AT - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
TS = int((READ_AT - timedelta(days=3)).timestamp())


def order(status="paid", total=2400, currency="gbp", created=OLD, oid="o1", **extra):
    data = {"totalCents": total, "currency": currency, "createdAt": created, **extra}
    if status is not None:
        data["status"] = status
    return Order("materialsOrders", oid, data)


def intent(pid="pi_1", oid="o1", status="succeeded", amount=2400, currency="gbp", **extra):
    return {
        "id": pid,
        "object": "payment_intent",
        "status": status,
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": currency,
        "metadata": {"orderId": oid, "uid": "u1"} if oid else {},
        "latest_charge": f"ch_{pid[3:]}" if status == "succeeded" else None,
        "created": TS,
        **extra,
    }


def charge(cid="ch_1", pid="pi_1", amount=2400, currency="gbp", metadata=None):
    return {
        "id": cid,
        "object": "charge",
        "status": "succeeded",
        "amount": amount,
        "currency": currency,
        "payment_intent": pid,
        "metadata": metadata or {},
        "created": TS + 5,
    }


def session(sid="cs_1", oid="o1", status="complete", payment_status="paid", pid="pi_1", **extra):
    return {
        "id": sid,
        "object": "checkout.session",
        "client_reference_id": oid,
        "metadata": {"orderId": oid},
        "status": status,
        "payment_status": payment_status,
        "payment_intent": pid,
        "amount_total": 2400,
        "currency": "gbp",
        "created": TS,
        **extra,
    }


def refund(rid="re_1", amount=2400, charge_id="ch_1", pid=None, status="succeeded"):
    return {
        "id": rid,
        "object": "refund",
        "amount": amount,
        "charge": charge_id,
        "payment_intent": pid,
        "currency": "gbp",
        "status": status,
        "created": TS + 86400,
    }


def dispute(did="dp_1", status="needs_response", charge_id="ch_1", pid=None, amount=2400):
    return {
        "id": did,
        "object": "dispute",
        "amount": amount,
        "charge": charge_id,
        "payment_intent": pid,
        "currency": "gbp",
        "status": status,
        "created": TS + 2 * 86400,
    }


def paid(**objects):
    """A clean paid order's Stripe side: session, succeeded intent and its charge."""
    return {
        "checkout_sessions": [session()],
        "payment_intents": [intent()],
        "charges": [charge()],
        **objects,
    }


def classes(orders, stripe, **options):
    result = reconcile(orders, stripe, stripe_read_at=READ_AT, **options)
    return {flag.order.id: flag.flag_class for flag in result.flags}


def only_flag(orders, stripe, **options):
    result = reconcile(orders, stripe, stripe_read_at=READ_AT, **options)
    assert len(result.flags) == 1, [f.flag_class for f in result.flags]
    return result.flags[0]


def test_a_paid_order_with_its_payment_is_clean():
    assert classes([order()], paid()) == {}


def test_the_classes_are_domains_eight_in_its_order():
    assert CLASSES == (
        "duplicate_payment",
        "paid_in_stripe_order_unpaid",
        "order_paid_without_payment",
        "currency_mismatch",
        "amount_mismatch",
        "refund_not_reflected",
        "dispute_not_reflected",
        "checkout_stuck_pending",
    )


# -- each rule ------------------------------------------------------------------------------


def test_two_succeeded_payments_are_a_duplicate_payment():
    stripe = paid(payment_intents=[intent(), intent("pi_2", created=TS + 40)])
    flag = only_flag([order()], stripe)
    assert flag.flag_class == "duplicate_payment"
    assert flag.amount_cents == 2400  # the second payment is the money at stake
    assert flag.stripe_amount_cents == 4800
    assert set(flag.evidence) >= {"pi_1", "pi_2"}
    assert flag.confidence == "high"


def test_a_failed_retry_beside_a_succeeded_payment_is_not_a_duplicate():
    stripe = paid(
        payment_intents=[intent(), intent("pi_0", status="requires_payment_method")],
    )
    assert classes([order()], stripe) == {}


def test_a_succeeded_payment_on_a_pending_order_is_paid_in_stripe_order_unpaid():
    flag = only_flag([order("checkout_pending")], paid())
    assert flag.flag_class == "paid_in_stripe_order_unpaid"
    assert flag.amount_cents == 2400
    assert "pi_1" in flag.evidence and "cs_1" in flag.evidence


def test_a_missing_status_is_checkout_pending():
    assert classes([order(None)], paid()) == {"o1": "paid_in_stripe_order_unpaid"}


@pytest.mark.parametrize("status", ["paid", "FULFILLED", "Completed"])
def test_a_paid_like_order_without_a_succeeded_payment_is_flagged(status):
    stripe = {
        "checkout_sessions": [session(status="open", payment_status="unpaid")],
        "payment_intents": [intent(status="requires_payment_method")],
    }
    flag = only_flag([order(status)], stripe)
    assert flag.flag_class == "order_paid_without_payment"
    assert flag.amount_cents == 2400 and flag.currency == "gbp"
    assert flag.stripe_amount_cents is None
    assert flag.evidence == ("pi_1", "cs_1")
    assert flag.confidence == "medium"  # it rests on an absence


def test_a_paid_session_is_not_a_succeeded_payment():
    # DOMAIN: a succeeded payment is a PaymentIntent with status succeeded, nothing else.
    stripe = {"checkout_sessions": [session()], "payment_intents": []}
    assert classes([order()], stripe) == {"o1": "order_paid_without_payment"}


def test_a_payment_in_another_currency_is_a_currency_mismatch():
    stripe = paid(payment_intents=[intent(currency="eur")])
    flag = only_flag([order()], stripe)
    assert flag.flag_class == "currency_mismatch"
    assert (flag.currency, flag.stripe_currency) == ("eur", "eur")
    assert flag.order.currency == "gbp"


def test_currencies_compare_case_insensitively():
    assert classes([order(currency="GBP")], paid(payment_intents=[intent(currency="gbp")])) == {}


def test_an_amount_received_that_differs_from_total_cents_is_an_amount_mismatch():
    flag = only_flag([order()], paid(payment_intents=[intent(amount=2500)]))
    assert flag.flag_class == "amount_mismatch"
    assert flag.amount_cents == 100
    assert (flag.order.amount_cents, flag.stripe_amount_cents) == (2400, 2500)
    assert flag.evidence == ("pi_1", "ch_1")


def test_amount_received_decides_not_amount():
    partly = intent(amount=2600)
    partly["amount_received"] = 2400
    assert classes([order()], paid(payment_intents=[partly])) == {}


def test_an_event_charge_is_compared_with_its_price_cents():
    charge_order = Order(
        "eventCharges", "event1_001", {"priceCents": 4000, "currency": "gbp", "status": "paid"}
    )
    stripe = {"payment_intents": [intent(oid="event1_001", amount=4000)]}
    assert classes([charge_order], stripe) == {}
    stripe = {"payment_intents": [intent(oid="event1_001", amount=2500)]}
    assert classes([charge_order], stripe) == {"event1_001": "amount_mismatch"}


def test_a_whole_refund_on_a_paid_order_is_refund_not_reflected():
    flag = only_flag([order()], paid(refunds=[refund()]))
    assert flag.flag_class == "refund_not_reflected"
    assert flag.amount_cents == 2400
    assert flag.evidence[0] == "re_1"


def test_refunds_that_add_up_to_the_whole_charge_are_refund_not_reflected():
    stripe = paid(refunds=[refund("re_1", 1400), refund("re_2", 1000)])
    assert classes([order()], stripe) == {"o1": "refund_not_reflected"}


def test_a_refund_joins_through_its_payment_intent_too():
    stripe = paid(refunds=[refund(charge_id=None, pid="pi_1")])
    assert classes([order()], stripe) == {"o1": "refund_not_reflected"}


def test_a_charge_without_metadata_joins_through_its_payment_intent():
    # The charge carries no orderId (Stripe does not copy it), the refund names the charge only.
    stripe = paid(charges=[charge(metadata={})], refunds=[refund(pid=None)])
    assert classes([order()], stripe) == {"o1": "refund_not_reflected"}


def test_an_open_dispute_on_a_paid_order_is_dispute_not_reflected():
    flag = only_flag([order("fulfilled")], paid(disputes=[dispute()]))
    assert flag.flag_class == "dispute_not_reflected"
    assert flag.evidence[0] == "dp_1"


@pytest.mark.parametrize("status", ["needs_response", "under_review", "lost", "LOST"])
def test_disputes_not_won_flag(status):
    assert classes([order()], paid(disputes=[dispute(status=status)])) == {
        "o1": "dispute_not_reflected"
    }


def test_a_dispute_joins_through_its_payment_intent():
    stripe = paid(disputes=[dispute(charge_id=None, pid="pi_1")])
    assert classes([order()], stripe) == {"o1": "dispute_not_reflected"}


def test_an_old_pending_checkout_without_payment_is_stuck():
    stripe = {
        "checkout_sessions": [session(status="open", payment_status="unpaid", pid=None)],
    }
    flag = only_flag([order("checkout_pending")], stripe)
    assert flag.flag_class == "checkout_stuck_pending"
    assert flag.evidence == ("cs_1",)
    assert flag.amount_cents == 2400


def test_a_stuck_checkout_needs_no_stripe_object_at_all():
    assert classes([order("CHECKOUT_PENDING")], {}) == {"o1": "checkout_stuck_pending"}


def test_the_pending_age_is_measured_from_the_stripe_read_time():
    created = (READ_AT - timedelta(hours=25)).isoformat()
    assert classes([order("checkout_pending", created=created)], {}) == {
        "o1": "checkout_stuck_pending"
    }
    assert (
        classes([order("checkout_pending", created=created)], {}, pending_after=timedelta(hours=30))
        == {}
    )


# -- look-alikes that must not flag ------------------------------------------------------------


def test_a_partial_refund_is_normal_business():
    assert classes([order()], paid(refunds=[refund(amount=800)])) == {}


def test_a_failed_or_pending_refund_of_the_whole_charge_does_not_flag():
    assert classes([order()], paid(refunds=[refund(status="pending")])) == {}
    assert classes([order()], paid(refunds=[refund(status="failed")])) == {}


def test_a_whole_refund_on_a_cancelled_order_is_reflected():
    assert classes([order("cancelled")], paid(refunds=[refund()])) == {}


@pytest.mark.parametrize("status", ["won", "warning_closed", "WON"])
def test_a_dispute_closed_in_the_studios_favour_does_not_flag(status):
    assert classes([order()], paid(disputes=[dispute(status=status)])) == {}


def test_a_pending_checkout_younger_than_24_hours_does_not_flag():
    stripe = {"checkout_sessions": [session(status="open", payment_status="unpaid", pid=None)]}
    assert classes([order("checkout_pending", created=FRESH)], stripe) == {}


def test_a_pending_checkout_without_a_creation_time_is_not_called_stuck():
    assert classes([order("checkout_pending", created=None)], {}) == {}


def test_a_cancelled_order_with_an_expired_session_is_clean():
    stripe = {
        "checkout_sessions": [session(status="expired", payment_status="unpaid", pid=None)],
        "payment_intents": [intent(status="canceled")],
    }
    assert classes([order("cancelled")], stripe) == {}


def test_stripe_objects_of_other_orders_do_not_join():
    stripe = paid(payment_intents=[intent(), intent("pi_9", oid="o9")])
    assert classes([order()], stripe) == {}


# -- precedence ---------------------------------------------------------------------------------


def test_duplicate_payment_comes_before_every_other_class():
    stripe = paid(
        payment_intents=[intent(currency="eur", amount=9), intent("pi_2", currency="eur")],
        refunds=[refund()],
        disputes=[dispute()],
    )
    assert classes([order("checkout_pending")], stripe) == {"o1": "duplicate_payment"}


def test_paid_in_stripe_comes_before_currency_and_amount():
    stripe = paid(payment_intents=[intent(currency="eur", amount=1)])
    assert classes([order(None)], stripe) == {"o1": "paid_in_stripe_order_unpaid"}


def test_currency_comes_before_amount():
    stripe = paid(payment_intents=[intent(currency="usd", amount=1)])
    assert classes([order()], stripe) == {"o1": "currency_mismatch"}


def test_amount_comes_before_refund_and_dispute():
    stripe = paid(
        payment_intents=[intent(amount=2500)],
        charges=[charge(amount=2500)],
        refunds=[refund(amount=2500)],
        disputes=[dispute()],
    )
    assert classes([order()], stripe) == {"o1": "amount_mismatch"}


def test_refund_comes_before_dispute():
    assert classes([order()], paid(refunds=[refund()], disputes=[dispute()])) == {
        "o1": "refund_not_reflected"
    }


def test_order_paid_without_payment_comes_before_dispute():
    stripe = {
        "payment_intents": [intent(status="requires_payment_method")],
        "disputes": [dispute(charge_id=None, pid="pi_1")],
    }
    assert classes([order()], stripe) == {"o1": "order_paid_without_payment"}


def test_each_order_gets_at_most_one_flag():
    orders = [order(oid=f"o{i}") for i in range(3)] + [order("checkout_pending", oid="p1")]
    stripe = {
        "payment_intents": [intent("pi_a", oid="o0"), intent("pi_b", oid="o0")],
        "disputes": [],
    }
    result = reconcile(orders, stripe, stripe_read_at=READ_AT)
    ids = [flag.order.id for flag in result.flags]
    assert len(ids) == len(set(ids)) == 4


# -- joins and confidence ---------------------------------------------------------------------


def test_a_session_joins_by_client_reference_id_alone():
    pending = {"checkout_sessions": [session(status="open", payment_status="unpaid", pid=None)]}
    pending["checkout_sessions"][0]["metadata"] = {}
    flag = only_flag([order("checkout_pending")], pending)
    assert flag.evidence == ("cs_1",)


def test_a_payment_intent_without_metadata_does_not_join():
    # DOMAIN joins PaymentIntents by metadata.orderId only: this one is nobody's.
    stripe = {"payment_intents": [intent(oid=None)]}
    assert classes([order()], stripe) == {"o1": "order_paid_without_payment"}


def test_confidence_rule():
    assert confidence_of(
        "amount_mismatch", stripe_complete=True, stripe_stale=False, before_window=True
    ) == ("high")
    assert (
        confidence_of(
            "checkout_stuck_pending", stripe_complete=True, stripe_stale=False, before_window=False
        )
        == "medium"
    )
    assert (
        confidence_of(
            "order_paid_without_payment",
            stripe_complete=True,
            stripe_stale=False,
            before_window=True,
        )
        == "low"
    )
    assert (
        confidence_of(
            "refund_not_reflected", stripe_complete=False, stripe_stale=True, before_window=False
        )
        == "low"
    )
    assert (
        confidence_of(
            "duplicate_payment", stripe_complete=False, stripe_stale=False, before_window=False
        )
        == "medium"
    )


def test_an_order_older_than_the_read_window_flags_with_low_confidence():
    flag = only_flag([order()], {}, window_start=READ_AT - timedelta(days=1))
    assert (flag.flag_class, flag.confidence) == ("order_paid_without_payment", "low")


def test_the_flag_document_has_both_sides():
    document = only_flag([order()], paid(payment_intents=[intent(amount=2500)])).as_json()
    assert document["order_id"] == "o1" and document["class"] == "amount_mismatch"
    assert document["order"]["amount_cents"] == 2400 and document["order"]["currency"] == "gbp"
    assert document["stripe"]["amount_cents"] == 2500
    assert document["stripe"]["payments"][0]["id"] == "pi_1"
    assert document["evidence"] == ["pi_1", "ch_1"]
    assert document["confidence"] == "high"
