"""The Stripe reader against localstripe behind the front, through the stripe library.

PaymentIntents, charges, refunds, balance transactions and payouts come from localstripe;
Checkout Sessions and Disputes from the recorded fixtures the front serves (localstripe
has neither)."""

from __future__ import annotations

import json
import time

import pytest

from connectors.sdk.base import MemoryRecorder
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.schemas import ReadQuery
from connectors.stripe.connector import StripeConnector
from connectors.stripe.schemas import RESOURCES, StripeSettings
from tests.peers.stripe_peer import RECORDED_CHECKOUT_SESSIONS, RECORDED_DISPUTES

FAST = {
    "timeout": 2.0,
    "retry_attempts": 4,
    "retry_wait_initial": 0.01,
    "retry_wait_max": 0.2,
    "retry_jitter": 0.0,
    "total_timeout": 10,
}
# localstripe refuses the created filter on these (see tests/peers/README.md).
LOCALSTRIPE_UNFILTERED = [r for r in RESOURCES if r not in ("checkout_sessions", "disputes")]


def reader(peer, *, key="sk_test_reader", **settings) -> StripeConnector:
    typed = StripeSettings.model_validate(
        {
            "api_base": peer.url,
            "created_filter_unsupported": LOCALSTRIPE_UNFILTERED,
            **FAST,
            **settings,
        }
    )
    return StripeConnector(
        instance="test-stripe", settings=typed, secrets={"api_key": key}, recorder=MemoryRecorder()
    )


def listed(connector, resource, **params):
    return connector.read(ReadQuery(resource=resource, params=params))


def make_payments(peer, count):
    client = peer.client()
    intents = []
    for index in range(count):
        params = {"amount": 1000 + index, "currency": "gbp", "metadata": {"orderId": f"o{index}"}}
        if index % 2 == 0:
            params |= {"payment_method": "pm_card_visa", "confirm": True}
        intents.append(client.v1.payment_intents.create(params=params))
    return intents


def recorded(path):
    return json.loads(path.read_text())


def test_every_page_is_read_and_every_object_comes_once(stripe_peer):
    intents = make_payments(stripe_peer, 7)
    stripe_peer.reset_counters()

    result = listed(reader(stripe_peer, page_size=2), "payment_intents")

    assert sorted(r.id for r in result.records) == sorted(pi.id for pi in intents)
    assert stripe_peer.calls["GET /v1/payment_intents"] == 4  # 2 + 2 + 2 + 1


def test_objects_arrive_as_plain_dicts_without_client_secrets(stripe_peer):
    make_payments(stripe_peer, 2)

    records = listed(reader(stripe_peer), "payment_intents").records
    charges = listed(reader(stripe_peer), "charges").records

    def plain(value):
        if isinstance(value, dict):
            return type(value) is dict and all(plain(v) for v in value.values())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return isinstance(value, str | int | float | bool | type(None))

    assert all(plain(record.fields) for record in records + charges)
    assert all("client_secret" not in record.fields for record in records)
    succeeded = [r for r in records if r.fields["status"] == "succeeded"]
    assert succeeded and all(r.fields["metadata"]["orderId"] for r in succeeded)
    assert len(charges) == 1 and charges[0].fields["payment_intent"] == succeeded[0].id


def test_refunds_balance_transactions_and_payouts_are_read_from_localstripe(stripe_peer):
    client = stripe_peer.client()
    [paid, _unpaid] = make_payments(stripe_peer, 2)
    refund = client.v1.refunds.create(params={"payment_intent": paid.id})
    payout = client.v1.payouts.create(params={"amount": 500, "currency": "eur"})
    connector = reader(stripe_peer)

    refunds = listed(connector, "refunds").records
    transactions = listed(connector, "balance_transactions").records
    payouts = listed(connector, "payouts").records

    assert [r.id for r in refunds] == [refund.id]
    assert sorted(t.fields["type"] for t in transactions) == ["charge", "refund"]
    assert [p.id for p in payouts] == [payout.id]


def test_checkout_sessions_and_disputes_come_from_the_recorded_fixtures(stripe_peer):
    sessions, disputes = recorded(RECORDED_CHECKOUT_SESSIONS), recorded(RECORDED_DISPUTES)
    stripe_peer.load_checkout_sessions(sessions)
    stripe_peer.load_disputes(disputes)
    since = min(obj["created"] for obj in sessions + disputes)

    read_sessions = listed(reader(stripe_peer, page_size=2), "checkout_sessions", since=since)
    read_disputes = listed(reader(stripe_peer), "disputes", since=since)

    assert sorted(r.id for r in read_sessions.records) == sorted(s["id"] for s in sessions)
    assert sorted(r.id for r in read_disputes.records) == sorted(d["id"] for d in disputes)
    paid = [r for r in read_sessions.records if r.fields["payment_status"] == "paid"]
    assert all(r.fields["client_reference_id"] == r.fields["metadata"]["orderId"] for r in paid)


def test_the_created_window_holds_on_the_server_and_here(stripe_peer):
    sessions = recorded(RECORDED_CHECKOUT_SESSIONS)
    stripe_peer.load_checkout_sessions(sessions)
    newest = max(s["created"] for s in sessions)
    make_payments(stripe_peer, 3)
    later = int(time.time()) + 3600

    # Server side: the front's fixture route filters created[gte].
    recent_sessions = listed(reader(stripe_peer), "checkout_sessions", since=newest)
    # Here: localstripe cannot filter payment intents, the reader drops what is too old.
    future_intents = listed(reader(stripe_peer), "payment_intents", since=later)

    assert [r.fields["created"] for r in recent_sessions.records] == [newest] * len(
        recent_sessions.records
    )
    assert len(recent_sessions.records) < len(sessions)
    assert future_intents.records == []


def test_the_created_filter_is_sent_unless_the_resource_is_marked_unsupported(stripe_peer):
    make_payments(stripe_peer, 1)
    # Sent to localstripe, which answers 400 "Unexpected created": proof the bound goes out.
    with pytest.raises(ConnectorError) as caught:
        listed(reader(stripe_peer, created_filter_unsupported=[]), "payment_intents")
    assert caught.value.code == ErrorCode.BAD_RESPONSE
    assert caught.value.status == 400


def test_a_429_is_backed_off_then_the_same_page_succeeds(stripe_peer):
    intents = make_payments(stripe_peer, 5)
    stripe_peer.reset_counters()
    stripe_peer.inject_fault("/v1/payment_intents", status=429, times=2, retry_after=0.05)

    result = listed(reader(stripe_peer, page_size=3), "payment_intents")

    assert sorted(r.id for r in result.records) == sorted(pi.id for pi in intents)
    assert stripe_peer.calls["GET /v1/payment_intents"] == 2 + 2  # two refusals, two pages
    assert result.meta is not None and result.meta.attempts == 4


def test_a_429_that_does_not_end_fails_as_rate_limited(stripe_peer):
    make_payments(stripe_peer, 1)
    stripe_peer.inject_fault("/v1/charges", status=429, times=50)
    recorder = MemoryRecorder()
    connector = reader(stripe_peer, retry_attempts=3)
    connector.recorder = recorder

    with pytest.raises(ConnectorError) as caught:
        listed(connector, "charges")

    assert caught.value.code == ErrorCode.RATE_LIMITED
    assert caught.value.transient
    assert recorder.calls[0].attempts == 3


def test_a_refused_key_fails_at_once(stripe_peer):
    stripe_peer.inject_fault(status=401, times=5)
    stripe_peer.reset_counters()

    with pytest.raises(ConnectorError) as caught:
        listed(reader(stripe_peer), "payouts")

    assert caught.value.code == ErrorCode.AUTH
    assert stripe_peer.request_count == 1


def test_reads_send_no_write_request(stripe_peer):
    make_payments(stripe_peer, 3)
    stripe_peer.load_checkout_sessions(recorded(RECORDED_CHECKOUT_SESSIONS))
    stripe_peer.reset_counters()
    connector = reader(stripe_peer)

    connector.health()
    for resource in RESOURCES:
        listed(connector, resource, since=0)

    assert stripe_peer.request_count >= len(RESOURCES)
    assert stripe_peer.write_calls == 0


def test_the_scan_limit_truncates_a_resource(stripe_peer):
    make_payments(stripe_peer, 5)

    result = listed(reader(stripe_peer, page_size=2), "payment_intents", scan_limit=3)

    assert len(result.records) == 3
    assert result.truncated
