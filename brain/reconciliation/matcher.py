"""Order-level matching of cloud orders against Stripe objects: docs/domain.md's rules, exactly.

Inputs are plain values: ``Order``s (a mirrored ``materialsOrders`` or ``eventCharges``
document: collection, id, fields) and Stripe objects as dicts, by the names the Stripe
reader files them under (``checkout_sessions``, ``payment_intents``, ``charges``,
``refunds``, ``disputes``, ``balance_transactions``, ``payouts``).

Joins (docs/domain.md):
- a PaymentIntent belongs to the order named by its ``metadata.orderId``;
- a Checkout Session to the order named by ``metadata.orderId`` and by ``client_reference_id``;
- a Charge to the order named by its ``metadata.orderId``; a charge whose metadata names no
  order belongs to the order of its ``payment_intent`` (Stripe does not copy a
  PaymentIntent's metadata onto the charges it makes, so that is the only link most charges
  have);
- a Refund or a Dispute through its ``charge`` (the charge's order), else through its
  ``payment_intent``.

A *succeeded payment* is a PaymentIntent with status ``succeeded``; its amount is
``amount_received`` (``amount`` where a server leaves ``amount_received`` out). Statuses and
currencies compare case-insensitively. An order's status that is missing, not a string or
blank is ``checkout_pending``; *paid-like* is paid, fulfilled or completed. An order's amount
is ``totalCents`` (``materialsOrders``) or ``priceCents`` (``eventCharges``).

Each order gets at most one class, the first of ``CLASSES`` that holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CLASSES = (
    "duplicate_payment",
    "paid_in_stripe_order_unpaid",
    "order_paid_without_payment",
    "currency_mismatch",
    "amount_mismatch",
    "refund_not_reflected",
    "dispute_not_reflected",
    "checkout_stuck_pending",
)
# Classes that rest on a Stripe object showing something, as opposed to the absence of a
# succeeded payment (which a partial or windowed read can fake).
POSITIVE_CLASSES = frozenset(CLASSES) - {"order_paid_without_payment", "checkout_stuck_pending"}
CONFIDENCE_LEVELS = ("low", "medium", "high")

PAID_LIKE = frozenset({"paid", "fulfilled", "completed"})
CHECKOUT_PENDING = "checkout_pending"
# Dispute outcomes in the studio's favour: the money stays, nothing for the order to reflect.
DISPUTE_CLOSED_FOR_US = frozenset({"won", "warning_closed"})
AMOUNT_FIELD = {"materialsOrders": "totalCents", "eventCharges": "priceCents"}
ORDER_COLLECTIONS = tuple(AMOUNT_FIELD)

StripeObject = Mapping[str, Any]


# -- small total readers: any value of any type, or none, has an answer ----------------------


def _lower(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value.lower() if value else None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _ref(value: Any) -> str | None:
    """An id, whether the field holds the id or the expanded object."""
    if type(value) is str:
        return value or None
    if value is None:
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        return _ref(value.get("id"))
    return None


def _metadata_order(obj: StripeObject) -> str | None:
    metadata = obj.get("metadata")
    if type(metadata) is dict or isinstance(metadata, Mapping):
        order_id = metadata.get("orderId")
        if type(order_id) is str and order_id:
            return order_id
    return None


def as_datetime(value: Any) -> datetime | None:
    """A time from a datetime, ISO text (``Z`` allowed) or Unix seconds; None when unknown."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _created(obj: StripeObject) -> int | None:
    return _int(obj.get("created"))


def payment_amount(intent: StripeObject) -> int | None:
    received = _int(intent.get("amount_received"))
    return received if received is not None else _int(intent.get("amount"))


def is_succeeded_payment(intent: StripeObject) -> bool:
    return _lower(intent.get("status")) == "succeeded"


# -- orders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """One cloud order: a ``materialsOrders`` or ``eventCharges`` document's fields."""

    collection: str
    id: str
    data: Mapping[str, Any]

    @property
    def status(self) -> str:
        return _lower(self.data.get("status")) or CHECKOUT_PENDING

    @property
    def paid_like(self) -> bool:
        return self.status in PAID_LIKE

    @property
    def amount_cents(self) -> int | None:
        return _int(self.data.get(AMOUNT_FIELD.get(self.collection, "totalCents")))

    @property
    def currency(self) -> str | None:
        return _lower(self.data.get("currency"))

    @property
    def created_at(self) -> datetime | None:
        return as_datetime(self.data.get("createdAt"))

    def as_json(self) -> dict[str, Any]:
        created = self.created_at
        return {
            "collection": self.collection,
            "id": self.id,
            "status": self.data.get("status"),
            "status_as": self.status,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "created_at": created.isoformat() if created else None,
            "stripe_session_id": self.data.get("stripeSessionId"),
            "stripe_payment_intent_id": self.data.get("stripePaymentIntentId"),
        }


# -- the Stripe side, indexed by order ------------------------------------------------------


@dataclass
class OrderObjects:
    """The Stripe objects joined to one order id."""

    intents: list[StripeObject] = field(default_factory=list)
    sessions: list[StripeObject] = field(default_factory=list)
    charges: list[StripeObject] = field(default_factory=list)
    refunds: list[StripeObject] = field(default_factory=list)
    disputes: list[StripeObject] = field(default_factory=list)


@dataclass
class StripeIndex:
    """Every Stripe object joined to the order id it belongs to (one pass per collection)."""

    by_order: dict[str, OrderObjects]
    charges_by_id: dict[str, StripeObject]
    charges_by_intent: dict[str, list[StripeObject]]
    # Money objects (succeeded payments, succeeded refunds, lost disputes) with their order id
    # (None: no join), for the weekly identity.
    intents: list[tuple[StripeObject, str | None]]
    refunds: list[tuple[StripeObject, str | None]]
    disputes: list[tuple[StripeObject, str | None]]

    @classmethod
    def build(cls, stripe: Mapping[str, Iterable[StripeObject]]) -> StripeIndex:
        by_order: dict[str, OrderObjects] = {}

        def slot(order_id: str) -> OrderObjects:
            objects = by_order.get(order_id)
            if objects is None:
                objects = by_order[order_id] = OrderObjects()
            return objects

        intent_order: dict[str, str] = {}
        intents: list[tuple[StripeObject, str | None]] = []
        for intent in stripe.get("payment_intents", ()):
            order_id = _metadata_order(intent)
            intents.append((intent, order_id))
            if order_id is not None:
                slot(order_id).intents.append(intent)
                intent_id = _ref(intent.get("id"))
                if intent_id is not None:
                    intent_order[intent_id] = order_id
        for session in stripe.get("checkout_sessions", ()):
            named = {_metadata_order(session), _ref(session.get("client_reference_id"))}
            for order_id in sorted(name for name in named if name):
                slot(order_id).sessions.append(session)
        charge_order: dict[str, str] = {}
        charges_by_id: dict[str, StripeObject] = {}
        charges_by_intent: dict[str, list[StripeObject]] = {}
        for charge in stripe.get("charges", ()):
            charge_id = _ref(charge.get("id"))
            intent_id = _ref(charge.get("payment_intent"))
            if charge_id is not None:
                charges_by_id[charge_id] = charge
            if intent_id is not None:
                charges_by_intent.setdefault(intent_id, []).append(charge)
            order_id = _metadata_order(charge) or (
                intent_order.get(intent_id) if intent_id else None
            )
            if order_id is not None:
                slot(order_id).charges.append(charge)
                if charge_id is not None:
                    charge_order[charge_id] = order_id

        def through_charge_or_intent(obj: StripeObject) -> str | None:
            charge_id = _ref(obj.get("charge"))
            if charge_id is not None and charge_id in charge_order:
                return charge_order[charge_id]
            intent_id = _ref(obj.get("payment_intent"))
            return intent_order.get(intent_id) if intent_id else None

        refunds: list[tuple[StripeObject, str | None]] = []
        for refund in stripe.get("refunds", ()):
            order_id = through_charge_or_intent(refund)
            refunds.append((refund, order_id))
            if order_id is not None:
                slot(order_id).refunds.append(refund)
        disputes: list[tuple[StripeObject, str | None]] = []
        for dispute in stripe.get("disputes", ()):
            order_id = through_charge_or_intent(dispute)
            disputes.append((dispute, order_id))
            if order_id is not None:
                slot(order_id).disputes.append(dispute)
        return cls(by_order, charges_by_id, charges_by_intent, intents, refunds, disputes)

    def charge_of(self, intent: StripeObject) -> StripeObject | None:
        """The charge a payment made: its ``latest_charge``, else a succeeded charge of it."""
        latest = _ref(intent.get("latest_charge"))
        if latest is not None and latest in self.charges_by_id:
            return self.charges_by_id[latest]
        intent_id = _ref(intent.get("id"))
        candidates = self.charges_by_intent.get(intent_id, []) if intent_id else []
        succeeded = [c for c in candidates if _lower(c.get("status")) == "succeeded"]
        chosen = succeeded or candidates
        return chosen[0] if chosen else None


# -- flags -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    order: Order
    flag_class: str
    amount_cents: int | None  # the amount at stake (docs/finance-reconciliation.md)
    currency: str | None
    stripe_amount_cents: int | None
    stripe_currency: str | None
    evidence: tuple[str, ...]
    confidence: str
    stripe: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.order.collection, self.order.id, self.flag_class)

    @property
    def week_at(self) -> datetime | None:
        """When the flag's order happened: its creation, else its earliest Stripe object."""
        created = self.order.created_at
        if created is not None:
            return created
        times = [
            obj["created"]
            for kind in ("payments", "sessions", "charges", "refunds", "disputes")
            for obj in self.stripe.get(kind, [])
            if isinstance(obj.get("created"), int)
        ]
        return as_datetime(min(times)) if times else None

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order.id,
            "class": self.flag_class,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "order": self.order.as_json(),
            "stripe": {
                "amount_cents": self.stripe_amount_cents,
                "currency": self.stripe_currency,
                **self.stripe,
            },
            "evidence": list(self.evidence),
            "confidence": self.confidence,
        }


def confidence_of(
    flag_class: str, *, stripe_complete: bool, stripe_stale: bool, before_window: bool
) -> str:
    """high for a flag a Stripe object shows, medium for one resting on an absence; one level
    lower for each of: an incomplete read, a stale read, an absence-based flag on an order
    older than the Stripe read window (its payment may simply not have been read)."""
    level = 2 if flag_class in POSITIVE_CLASSES else 1
    level -= (not stripe_complete) + stripe_stale
    if flag_class not in POSITIVE_CLASSES and before_window:
        level -= 1
    return CONFIDENCE_LEVELS[max(level, 0)]


def _brief(obj: StripeObject, *fields: str) -> dict[str, Any]:
    return {"id": _ref(obj.get("id")), **{name: obj.get(name) for name in fields}}


def _stripe_side(objects: OrderObjects) -> dict[str, Any]:
    return {
        "payments": [
            {
                **_brief(pi, "status", "currency", "created"),
                "amount_received": payment_amount(pi),
            }
            for pi in objects.intents
        ],
        "sessions": [
            _brief(s, "status", "payment_status", "amount_total", "currency", "created")
            for s in objects.sessions
        ],
        "charges": [
            _brief(c, "status", "amount", "currency", "payment_intent", "created")
            for c in objects.charges
        ],
        "refunds": [
            _brief(r, "status", "amount", "currency", "charge", "payment_intent", "created")
            for r in objects.refunds
        ],
        "disputes": [
            _brief(d, "status", "amount", "currency", "charge", "payment_intent", "created")
            for d in objects.disputes
        ],
    }


def _ids(objects: Iterable[StripeObject | None]) -> list[str]:
    ids = []
    for obj in objects:
        if obj is not None:
            object_id = obj.get("id")
            if isinstance(object_id, str) and object_id:
                ids.append(object_id)
    return ids


def _dedupe(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))


_NO_OBJECTS = OrderObjects()


def classify(
    order: Order,
    objects: OrderObjects,
    index: StripeIndex,
    *,
    stripe_read_at: datetime,
    pending_after: timedelta,
) -> tuple[str, int | None, str | None, int | None, str | None, tuple[str, ...]] | None:
    """The order's class (first that holds) with (amount at stake, its currency, Stripe amount,
    Stripe currency, evidence ids), or None when the order is clean."""
    succeeded = [pi for pi in objects.intents if is_succeeded_payment(pi)]
    succeeded.sort(key=lambda pi: (_created(pi) or 0, _ref(pi.get("id")) or ""))
    status = order.status
    if len(succeeded) >= 2:
        amounts = [payment_amount(pi) or 0 for pi in succeeded]
        currency = _lower(succeeded[0].get("currency"))
        evidence = _ids(succeeded) + _ids(index.charge_of(pi) for pi in succeeded)
        return (
            "duplicate_payment",
            sum(amounts[1:]),
            currency,
            sum(amounts),
            currency,
            _dedupe(evidence),
        )
    payment = succeeded[0] if succeeded else None
    pay_amount = payment_amount(payment) if payment else None
    pay_currency = _lower(payment.get("currency")) if payment else None
    charge = index.charge_of(payment) if payment else None
    pay_evidence = _ids([payment, charge])
    if payment is not None and status == CHECKOUT_PENDING:
        paid_sessions = [s for s in objects.sessions if _lower(s.get("payment_status")) == "paid"]
        return (
            "paid_in_stripe_order_unpaid",
            pay_amount,
            pay_currency,
            pay_amount,
            pay_currency,
            _dedupe(pay_evidence + _ids(paid_sessions)),
        )
    if payment is None and order.paid_like:
        return (
            "order_paid_without_payment",
            order.amount_cents,
            order.currency,
            None,
            None,
            _dedupe(_ids(objects.intents) + _ids(objects.sessions)),
        )
    if payment is not None:
        if pay_currency != order.currency:
            return (
                "currency_mismatch",
                pay_amount,
                pay_currency,
                pay_amount,
                pay_currency,
                _dedupe(pay_evidence),
            )
        if pay_amount is None or order.amount_cents is None or pay_amount != order.amount_cents:
            gap = (
                abs(pay_amount - order.amount_cents)
                if pay_amount is not None and order.amount_cents is not None
                else pay_amount
            )
            return (
                "amount_mismatch",
                gap,
                pay_currency,
                pay_amount,
                pay_currency,
                _dedupe(pay_evidence),
            )
        if order.paid_like:
            refunds = [r for r in objects.refunds if _lower(r.get("status")) == "succeeded"]
            refunded = sum(_int(r.get("amount")) or 0 for r in refunds)
            whole = _int(charge.get("amount")) if charge is not None else None
            whole = whole if whole is not None else pay_amount
            if refunds and whole is not None and refunded >= whole:
                return (
                    "refund_not_reflected",
                    refunded,
                    pay_currency,
                    refunded,
                    _lower(refunds[0].get("currency")) or pay_currency,
                    _dedupe(_ids(refunds) + pay_evidence),
                )
    if order.paid_like:
        open_disputes = [
            d for d in objects.disputes if _lower(d.get("status")) not in DISPUTE_CLOSED_FOR_US
        ]
        if open_disputes:
            disputed = sum(_int(d.get("amount")) or 0 for d in open_disputes)
            currency = _lower(open_disputes[0].get("currency")) or pay_currency
            return (
                "dispute_not_reflected",
                disputed,
                currency,
                disputed,
                currency,
                _dedupe(_ids(open_disputes) + pay_evidence),
            )
    if status == CHECKOUT_PENDING and payment is None:
        created = order.created_at
        if created is not None and stripe_read_at - created > pending_after:
            return (
                "checkout_stuck_pending",
                order.amount_cents,
                order.currency,
                None,
                None,
                _dedupe(_ids(objects.sessions) + _ids(objects.intents)),
            )
    return None


@dataclass
class Reconciliation:
    flags: list[Flag]
    orders: list[Order]
    index: StripeIndex
    order_ids: set[str]

    def flagged_class_of(self) -> dict[str, str]:
        """order id -> class of its flag (an id in two collections takes the first flag)."""
        classes: dict[str, str] = {}
        for flag in self.flags:
            classes.setdefault(flag.order.id, flag.flag_class)
        return classes


def reconcile(
    orders: Iterable[Order],
    stripe: Mapping[str, Iterable[StripeObject]],
    *,
    stripe_read_at: datetime,
    pending_after: timedelta = timedelta(hours=24),
    stripe_complete: bool = True,
    stripe_stale: bool = False,
    window_start: datetime | None = None,
) -> Reconciliation:
    """Match every order against Stripe; at most one flag per order (see the module docstring).

    ``stripe_complete`` (every Stripe collection read to the end), ``stripe_stale`` (the read
    is older than the staleness limit) and ``window_start`` (the earliest creation time the
    Stripe read covers) only change each flag's confidence, never whether it is raised.
    """
    index = StripeIndex.build(stripe)
    order_list = sorted(orders, key=lambda o: (o.collection, o.id))
    flags: list[Flag] = []
    for order in order_list:
        objects = index.by_order.get(order.id, _NO_OBJECTS)
        found = classify(
            order, objects, index, stripe_read_at=stripe_read_at, pending_after=pending_after
        )
        if found is None:
            continue
        flag_class, amount, currency, stripe_amount, stripe_currency, evidence = found
        created = order.created_at
        before_window = window_start is not None and (created is None or created < window_start)
        flags.append(
            Flag(
                order=order,
                flag_class=flag_class,
                amount_cents=amount,
                currency=currency,
                stripe_amount_cents=stripe_amount,
                stripe_currency=stripe_currency,
                evidence=evidence,
                confidence=confidence_of(
                    flag_class,
                    stripe_complete=stripe_complete,
                    stripe_stale=stripe_stale,
                    before_window=before_window,
                ),
                stripe=_stripe_side(objects),
            )
        )
    return Reconciliation(flags, order_list, index, {order.id for order in order_list})
