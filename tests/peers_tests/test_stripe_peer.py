"""The Stripe peer (localstripe behind a small front), proven through the real stripe client."""

import json
import time

import pytest
import stripe

from tests.peers.stripe_peer import (
    RECORDED_CHECKOUT_SESSIONS,
    RECORDED_DISPUTES,
    TEST_API_KEY,
    StripePeer,
)

DECLINING_CARD = "4000000000000341"  # attaches to a customer, then every charge is declined


def card(client: stripe.StripeClient, number: str = "4242424242424242") -> str:
    payment_method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    return payment_method.id


def paid_intent(client: stripe.StripeClient, amount: int, **params) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            **params,
        }
    )


def recorded_checkout_sessions() -> list[dict]:
    return json.loads(RECORDED_CHECKOUT_SESSIONS.read_text())


def recorded_disputes() -> list[dict]:
    return json.loads(RECORDED_DISPUTES.read_text())


def test_customers_page_through_auto_pagination_each_exactly_once(stripe_peer: StripePeer):
    client = stripe_peer.client()
    created = {
        client.v1.customers.create(params={"email": f"member{index}@example.test"}).id
        for index in range(12)
    }
    stripe_peer.reset_counters()

    listed = [
        customer.id for customer in client.v1.customers.list(params={"limit": 5}).auto_paging_iter()
    ]

    assert sorted(listed) == sorted(created)
    assert len(listed) == 12
    assert stripe_peer.calls["GET /v1/customers"] == 3


def test_a_payment_intent_is_confirmed_and_captured_into_a_succeeded_charge(
    stripe_peer: StripePeer,
):
    client = stripe_peer.client()
    customer = client.v1.customers.create(params={"email": "mira@example.test"})
    intent = client.v1.payment_intents.create(
        params={
            "amount": 4850,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": card(client),
            "capture_method": "manual",
            "metadata": {"orderId": "ord_1", "uid": "uid_1"},
        }
    )
    assert intent.status == "requires_confirmation"

    confirmed = client.v1.payment_intents.confirm(intent.id)
    captured = client.v1.payment_intents.capture(intent.id)

    charge = client.v1.charges.retrieve(captured.latest_charge.id)
    assert confirmed.status == "requires_capture"
    assert captured.status == "succeeded"
    assert captured.metadata.to_dict() == {"orderId": "ord_1", "uid": "uid_1"}
    assert (charge.payment_intent, charge.status, charge.amount) == (intent.id, "succeeded", 4850)
    transaction = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (transaction.type, transaction.amount, transaction.source) == ("charge", 4850, charge.id)


def test_a_declining_card_fails_confirmation_and_leaves_a_failed_charge(stripe_peer: StripePeer):
    client = stripe_peer.client()
    intent = client.v1.payment_intents.create(
        params={"amount": 900, "currency": "usd", "payment_method": card(client, DECLINING_CARD)}
    )

    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.confirm(intent.id)

    assert declined.value.code == "card_declined"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"
    [charge] = client.v1.charges.list().data
    assert (charge.payment_intent, charge.status) == (intent.id, "failed")


def test_a_partial_refund_shows_on_the_charge_and_in_refund_and_balance_lists(
    stripe_peer: StripePeer,
):
    client = stripe_peer.client()
    intent = paid_intent(client, 2500)

    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})

    charge = client.v1.charges.retrieve(intent.latest_charge.id)
    by_intent = client.v1.refunds.list(params={"payment_intent": intent.id}).data
    by_charge = client.v1.refunds.list(params={"charge": charge.id}).data
    kinds = sorted(txn.type for txn in client.v1.balance_transactions.list().auto_paging_iter())
    assert (refund.status, refund.charge, refund.payment_intent) == (
        "succeeded",
        charge.id,
        intent.id,
    )
    assert (charge.amount_refunded, charge.refunded) == (500, False)
    assert [item.id for item in by_intent] == [refund.id] == [item.id for item in by_charge]
    assert kinds == ["charge", "refund"]


def test_intents_charges_refunds_and_balance_transactions_auto_paginate(
    stripe_peer: StripePeer,
):
    client = stripe_peer.client()
    intents = [paid_intent(client, 1000 + index) for index in range(7)]
    for intent in intents[:4]:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    stripe_peer.reset_counters()
    page = {"limit": 3}

    listed = {
        "payment_intents": list(client.v1.payment_intents.list(params=page).auto_paging_iter()),
        "charges": list(client.v1.charges.list(params=page).auto_paging_iter()),
        "refunds": list(client.v1.refunds.list(params=page).auto_paging_iter()),
        "balance_transactions": list(
            client.v1.balance_transactions.list(params=page).auto_paging_iter()
        ),
    }

    counts = {name: len({item.id for item in items}) for name, items in listed.items()}
    assert counts == {"payment_intents": 7, "charges": 7, "refunds": 4, "balance_transactions": 11}
    assert {item.id for item in listed["payment_intents"]} == {intent.id for intent in intents}
    assert stripe_peer.calls["GET /v1/charges"] == 3
    assert stripe_peer.write_calls == 0


def test_the_list_filters_localstripe_honours(stripe_peer: StripePeer):
    client = stripe_peer.client()
    mira = client.v1.customers.create(params={"email": "mira@example.test"})
    theirs = paid_intent(client, 1200, customer=mira.id)
    paid_intent(client, 800)
    cutoff = int(time.time()) - 3600

    mine = client.v1.charges.list(params={"customer": mira.id}).data
    recent = client.v1.charges.list(params={"created": {"gt": cutoff}}).data
    future = client.v1.charges.list(params={"created": {"gt": int(time.time()) + 3600}}).data
    by_email = client.v1.customers.list(params={"email": "mira@example.test"}).data

    assert [charge.payment_intent for charge in mine] == [theirs.id]
    assert len(recent) == 2
    assert future == []
    assert [customer.id for customer in by_email] == [mira.id]


@pytest.mark.parametrize(
    ("resource", "params", "error"),
    [
        ("payment_intents", {"created": {"gte": 1_700_000_000}}, stripe.InvalidRequestError),
        ("payment_intents", {"customer": "cus_x"}, stripe.InvalidRequestError),
        ("balance_transactions", {"type": "charge"}, stripe.InvalidRequestError),
        ("payouts", {"created": {"gte": 1_700_000_000}}, stripe.InvalidRequestError),
        # Charges take created[gt] only; the other bounds answer 500 "Not implemented".
        ("charges", {"created": {"gte": 1_700_000_000}}, stripe.APIError),
        ("charges", {"ending_before": "ch_x"}, stripe.APIError),
        # Refunds have no **kwargs in localstripe: an unknown filter is a 500, not a 400.
        ("refunds", {"created": {"gte": 1_700_000_000}}, stripe.APIError),
    ],
)
def test_the_list_filters_localstripe_refuses(stripe_peer: StripePeer, resource, params, error):
    client = stripe_peer.client()

    with pytest.raises(error):
        getattr(client.v1, resource).list(params=params)


@pytest.mark.parametrize(
    "path", ["/v1/checkout/sessions", "/v1/disputes", "/v1/prices", "/v1/webhook_endpoints"]
)
def test_localstripe_itself_has_no_checkout_sessions_disputes_prices_or_webhook_endpoints(
    stripe_peer: StripePeer, path: str
):
    direct = stripe.StripeClient(
        TEST_API_KEY, base_addresses={"api": stripe_peer.localstripe_url}, max_network_retries=0
    )

    with pytest.raises(stripe.APIError, match="404"):
        direct.raw_request("get", path)


def test_recorded_checkout_sessions_deserialize_into_the_clients_session_type(
    stripe_peer: StripePeer,
):
    client = stripe_peer.client()

    sessions = [
        client.deserialize(session, api_mode="V1") for session in recorded_checkout_sessions()
    ]

    assert len(sessions) == 5
    for session in sessions:
        assert isinstance(session, stripe.checkout.Session)
        assert session.client_reference_id == session.metadata["orderId"]
        assert session.metadata["uid"].startswith("uid_")
        assert session.status in {"open", "complete", "expired"}
        assert session.payment_status in {"paid", "unpaid"}
        assert (session.payment_intent is not None) == (session.status == "complete")
        assert isinstance(session.amount_total, int) and session.currency == "usd"


def test_recorded_disputes_deserialize_into_the_clients_dispute_type(stripe_peer: StripePeer):
    client = stripe_peer.client()

    disputes = [client.deserialize(dispute, api_mode="V1") for dispute in recorded_disputes()]

    assert len(disputes) == 2
    for dispute in disputes:
        assert isinstance(dispute, stripe.Dispute)
        assert dispute.charge.startswith("ch_") and dispute.payment_intent.startswith("pi_")
        assert dispute.status in {"needs_response", "under_review", "won", "lost"}
        [withdrawal] = dispute.balance_transactions
        assert isinstance(withdrawal, stripe.BalanceTransaction)
        assert withdrawal.amount == -dispute.amount


def test_the_front_serves_disputes_filtered_by_payment_intent(stripe_peer: StripePeer):
    client = stripe_peer.client()
    recorded = recorded_disputes()
    stripe_peer.load_disputes(recorded)

    everything = [dispute.id for dispute in client.v1.disputes.list().auto_paging_iter()]
    one = client.v1.disputes.list(params={"payment_intent": recorded[0]["payment_intent"]}).data

    assert everything == [recorded[1]["id"], recorded[0]["id"]]
    assert [dispute.id for dispute in one] == [recorded[0]["id"]]
    assert client.v1.disputes.retrieve(recorded[1]["id"]).reason == "fraudulent"


def test_the_front_serves_checkout_sessions_with_stripes_list_contract(stripe_peer: StripePeer):
    client = stripe_peer.client()
    recorded = recorded_checkout_sessions()
    stripe_peer.load_checkout_sessions(recorded)
    newest_first = [
        session["id"]
        for session in sorted(recorded, key=lambda session: session["created"], reverse=True)
    ]
    paid = next(session for session in recorded if session["payment_status"] == "paid")
    since = sorted(session["created"] for session in recorded)[2]

    paged = client.v1.checkout.sessions.list(params={"limit": 2}).auto_paging_iter()
    listed = [session.id for session in paged]
    pages = stripe_peer.calls["GET /v1/checkout/sessions"]
    recent = client.v1.checkout.sessions.list(params={"created": {"gte": since}}).data
    by_intent = client.v1.checkout.sessions.list(
        params={"payment_intent": paid["payment_intent"]}
    ).data
    before = client.v1.checkout.sessions.list(
        params={"ending_before": newest_first[3], "limit": 2}
    ).data
    one = client.v1.checkout.sessions.retrieve(paid["id"])

    assert listed == newest_first
    assert pages == 3
    assert [session.id for session in recent] == newest_first[:3]
    assert [session.id for session in by_intent] == [paid["id"]]
    assert [session.id for session in before] == newest_first[1:3]
    assert isinstance(one, stripe.checkout.Session) and one.metadata["orderId"]
    with pytest.raises(stripe.InvalidRequestError, match=r"No such checkout\.session"):
        client.v1.checkout.sessions.retrieve("cs_test_missing")
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter"):
        client.v1.checkout.sessions.list(params={"mode": "payment"})


def test_an_injected_429_is_a_rate_limit_error_that_the_client_does_not_retry(
    stripe_peer: StripePeer,
):
    retrying = stripe.StripeClient(
        TEST_API_KEY, base_addresses={"api": stripe_peer.url}, max_network_retries=2
    )
    stripe_peer.inject_fault("/v1/charges", status=429)

    with pytest.raises(stripe.RateLimitError) as limited:
        retrying.v1.charges.list()

    assert limited.value.http_status == 429
    assert limited.value.json_body["error"]["code"] == "rate_limit"
    assert stripe_peer.calls["GET /v1/charges"] == 1
    assert retrying.v1.charges.list().data == []


def test_an_injected_500_is_retried_by_the_client_when_retries_are_enabled(
    stripe_peer: StripePeer,
):
    retrying = stripe.StripeClient(
        TEST_API_KEY, base_addresses={"api": stripe_peer.url}, max_network_retries=1
    )
    stripe_peer.inject_fault("/v1/payment_intents", status=500)

    assert retrying.v1.payment_intents.list().data == []
    assert stripe_peer.calls["GET /v1/payment_intents"] == 2


def test_reset_deletes_every_object_and_loaded_session(stripe_peer: StripePeer):
    client = stripe_peer.client()
    paid_intent(client, 1000)
    stripe_peer.load_checkout_sessions(recorded_checkout_sessions())
    stripe_peer.load_disputes(recorded_disputes())

    stripe_peer.reset()

    assert client.v1.payment_intents.list().data == []
    assert client.v1.charges.list().data == []
    assert client.v1.checkout.sessions.list().data == []
    assert client.v1.disputes.list().data == []


def test_the_write_counter_counts_posts_and_not_reads(stripe_peer: StripePeer):
    client = stripe_peer.client()
    intent = paid_intent(client, 1000)
    writes_after_setup = stripe_peer.write_calls

    client.v1.payment_intents.retrieve(intent.id)
    list(client.v1.charges.list().auto_paging_iter())

    assert writes_after_setup == 1
    assert stripe_peer.write_calls == 1
