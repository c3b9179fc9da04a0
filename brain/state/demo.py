"""A deterministic demo cloud: a realistic studio as Firestore-export JSON plus Stripe objects.

``generate(studio=…, size=…, seed=…)`` returns the same bytes for the same arguments. The
Firestore side is shaped like the Firestore REST ``Document`` (``name``, ``fields`` with
typed values, ``createTime``, ``updateTime``) so the demo source decodes it exactly as the
real reader decodes documents; the Stripe side is lists of Stripe API objects. A few
inconsistencies are planted on purpose (listed in the manifest) so reconciliation and the
``unsettledPayments`` metric have something true to find.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sdk.canonical import normalize

SIZES = {
    # batches, pieces per batch (mean), members, reservations, firings, reports, tickets, requests, orders, events
    "small": dict(
        batches=60,
        pieces=3,
        members=40,
        reservations=45,
        firings=12,
        reports=14,
        tickets=20,
        requests=18,
        orders=40,
        events=6,
    ),
    "large": dict(
        batches=9000,
        pieces=9,
        members=3000,
        reservations=6000,
        firings=800,
        reports=900,
        tickets=1500,
        requests=1200,
        orders=4000,
        events=120,
    ),
}
EPOCH = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
# Order positions (modulo 500) that carry a planted inconsistency, so every size has each kind.
PLANTS = {
    7: "paid_not_settled",
    11: "settled_not_paid",
    13: "amount_mismatch",
    17: "refund_not_reflected",
    19: "duplicate_payment",
    23: "dispute_not_reflected",
    29: "currency_mismatch",
    31: "checkout_stuck_pending",
}
# The snapshot rule's names for the planted kinds whose reconciliation class differs.
RECONCILIATION_CLASS = {
    "paid_not_settled": "order_paid_without_payment",
    "settled_not_paid": "paid_in_stripe_order_unpaid",
}
# Order positions (modulo 500) that look like a discrepancy and are not one.
# Below 40, so the small demo (40 orders) has every one too.
LOOKALIKES = {
    3: "partial_refund",
    5: "won_dispute",
    9: "cancelled_with_expired_session",
    15: "status_and_currency_in_capitals",
    21: "warning_closed_dispute",
}

BATCH_STATES = [
    "WEDGING",
    "THROWING",
    "TRIMMING",
    "BISQUE_QUEUED",
    "GLAZING",
    "GLAZE_QUEUED",
    "CLOSED_PICKED_UP",
    "CLOSED_FIRED",
    "CLOSED_CANCELLED",
]
RESERVATION_STATUS = ["BOOKED", "CONFIRMED", "CANCELLED", "COMPLETED", "DECLINED", "pending", None]
FIRING_STATUS = [
    "queued",
    "SCHEDULED",
    "loaded",
    "firing",
    "cooling",
    "ready",
    "done",
    "unloaded",
    None,
]
REPORT_STATUS = ["open", "triaged", "Actioned", "resolved", "dismissed", None]
REQUEST_STATUS = ["pending", "needs_review", "AWAITING_PAYMENT", "done", "rejected", None]
GLAZES = ["Celadon", "Tenmoku", "Shino", "Chun blue", "Matte white", "Iron red", "Ash"]
FIRST = [
    "Ada",
    "Ben",
    "Chloé",
    "Dev",
    "Esi",
    "Farah",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lena",
    "Mo",
    "Noor",
]
LAST = [
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Sato",
    "Tanaka",
    "Uddin",
    "Vega",
    "Wong",
    "Xu",
    "Yilmaz",
    "Zhou",
]
MATERIALS = [
    ("Stoneware clay 10kg", 2400),
    ("Porcelain 10kg", 3600),
    ("Glaze kit", 1800),
    ("Trimming tools", 1500),
    ("Underglaze set", 2200),
    ("Kiln shelf paper", 600),
]


@dataclass
class DemoCloud:
    firestore: dict[str, Any]
    stripe: dict[str, list[dict[str, Any]]]
    manifest: dict[str, Any] = field(default_factory=dict)


def encode_value(value: Any) -> dict[str, Any]:
    """A Python value as a Firestore REST typed value."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, datetime):
        return {"timestampValue": normalize(value)}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [encode_value(item) for item in value]}}
    if isinstance(value, Mapping):
        return {"mapValue": {"fields": {k: encode_value(v) for k, v in value.items()}}}
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode_value(typed: Mapping[str, Any]) -> Any:
    """A Firestore REST typed value as a Python value (timestamps become aware datetimes)."""
    ((kind, raw),) = typed.items()
    if kind == "nullValue":
        return None
    if kind == "booleanValue":
        return bool(raw)
    if kind == "integerValue":
        return int(raw)
    if kind == "doubleValue":
        return float(raw)
    if kind == "timestampValue":
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if kind in ("stringValue", "referenceValue"):
        return raw
    if kind == "arrayValue":
        return [decode_value(item) for item in raw.get("values", [])]
    if kind == "mapValue":
        return {k: decode_value(v) for k, v in raw.get("fields", {}).items()}
    raise ValueError(f"unsupported Firestore value type {kind}")


class _Builder:
    def __init__(self, studio: str, size: str, seed: int) -> None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}")
        self.studio = studio
        self.n = SIZES[size]
        self.rng = random.Random(f"{studio}:{size}:{seed}")
        self.documents: list[dict[str, Any]] = []
        self.stripe: dict[str, list[dict[str, Any]]] = {
            "checkout_sessions": [],
            "payment_intents": [],
            "charges": [],
            "refunds": [],
            "disputes": [],
            "balance_transactions": [],
            "payouts": [],
        }
        self.planted: list[dict[str, str]] = []
        self.expected_flags: list[dict[str, str]] = []
        self.lookalikes: list[dict[str, str]] = []

    def when(self, max_days: int = 80) -> datetime:
        return EPOCH + timedelta(minutes=self.rng.randrange(max_days * 24 * 60))

    def add(self, path: str, fields: dict[str, Any], created: datetime | None = None) -> None:
        created = created or self.when()
        updated = created + timedelta(minutes=self.rng.randrange(0, 60 * 24 * 5))
        self.documents.append(
            {
                "name": path,
                "fields": {key: encode_value(value) for key, value in fields.items()},
                "createTime": normalize(created),
                "updateTime": normalize(updated),
            }
        )

    def person(self) -> tuple[str, str, str]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        uid = f"u{self.rng.randrange(10**9):09d}"
        return uid, f"{first} {last}", f"{first.lower()}.{last.lower()}@members.example"

    def build(self) -> DemoCloud:
        n, rng = self.n, self.rng
        members = []
        for _ in range(n["members"]):
            uid, name, email = self.person()
            members.append((uid, name))
            self.add(
                f"profiles/{uid}",
                {"displayName": name, "email": email, "memberSince": self.when(400)},
            )
            self.add(
                f"users/{uid}",
                {"role": rng.choice(["member", "member", "member", "staff"]), "active": True},
            )
        for i in range(n["batches"]):
            batch_id = f"batch{i:06d}"
            owner = rng.choice(members)
            state: Any = rng.choice(BATCH_STATES)
            if i % 97 == 5:
                state = None  # missing state counts as active
            fields: dict[str, Any] = {
                "ownerUid": owner[0],
                "title": f"{rng.choice(GLAZES)} set {i}",
                "createdAt": self.when(),
            }
            if state is not None:
                fields["state"] = state
            self.add(f"batches/{batch_id}", fields)
            for p in range(max(1, int(rng.gauss(n["pieces"], 1.5)))):
                self.add(
                    f"batches/{batch_id}/pieces/piece{p:03d}",
                    {
                        "kind": rng.choice(["mug", "bowl", "plate", "vase"]),
                        "glaze": rng.choice(GLAZES),
                        "weightGrams": rng.randrange(150, 2500),
                    },
                )
        for i in range(n["reservations"]):
            status = rng.choice(RESERVATION_STATUS)
            fields = {
                "uid": rng.choice(members)[0],
                "slot": self.when(),
                "wheel": rng.randrange(1, 9),
            }
            if status is not None:
                fields["status"] = status
            self.add(f"reservations/res{i:06d}", fields)
        kilns = [f"kiln{k}" for k in range(max(2, n["firings"] // 40))]
        for kiln in kilns:
            self.add(f"kilns/{kiln}", {"name": kiln.replace("kiln", "Kiln "), "maxTempC": 1300})
        for i in range(n["firings"]):
            status = rng.choice(FIRING_STATUS)
            fields = {
                "kilnId": rng.choice(kilns),
                "cone": rng.choice(["04", "6", "10"]),
                "startAt": self.when(),
            }
            if status is not None:
                fields["status"] = status
            self.add(f"kilnFirings/firing{i:05d}", fields)
        for i in range(n["reports"]):
            status = rng.choice(REPORT_STATUS)
            fields = {
                "reason": rng.choice(["broken_link", "spam", "incorrect_info", "safety", "other"]),
                "reporterUid": rng.choice(members)[0],
            }
            if status is not None:
                fields["status"] = status
            if rng.random() < 0.45:
                fields["severity"] = rng.choice(["high", "HIGH", "low", "medium"])
            self.add(f"communityReports/report{i:05d}", fields)
        for i in range(n["tickets"]):
            blocked: Any = rng.choice([True, False, False, "true"])
            self.add(f"trackerTickets/ticket{i:05d}", {"title": f"Ticket {i}", "blocked": blocked})
        for i in range(n["requests"]):
            status = rng.choice(REQUEST_STATUS)
            fields = {
                "agentId": f"agent-{rng.randrange(3)}",
                "kind": rng.choice(["booking", "materials", "question"]),
            }
            if status is not None:
                fields["status"] = status
            self.add(f"agentRequests/req{i:05d}", fields)
        self.build_orders(members)
        for i in range(n["events"]):
            event_id = f"event{i:04d}"
            price = rng.choice([2500, 4000, 6500])
            self.add(
                f"events/{event_id}",
                {"title": f"Workshop {i}", "startsAt": self.when(), "priceCents": price},
            )
            for s in range(rng.randrange(3, 12)):
                uid = rng.choice(members)[0]
                self.add(
                    f"eventSignups/{event_id}_{s:03d}",
                    {
                        "eventId": event_id,
                        "uid": uid,
                        "status": "confirmed",
                        "paymentStatus": "paid",
                    },
                )
                self.add(
                    f"eventCharges/{event_id}_{s:03d}",
                    {"eventId": event_id, "uid": uid, "priceCents": price, "currency": "gbp"},
                )
        self.documents.sort(key=lambda doc: doc["name"])
        return DemoCloud(
            firestore={
                "project": f"demo-{self.studio}",
                "database": "(default)",
                "documents": self.documents,
            },
            stripe={
                kind: sorted(objs, key=lambda o: o["id"]) for kind, objs in self.stripe.items()
            },
            manifest={
                "studio": self.studio,
                "documents": len(self.documents),
                "stripe_objects": {k: len(v) for k, v in self.stripe.items()},
                "planted": self.planted,
                # What finance reconciliation must find (every planted kind, and every other
                # checkout_pending order: all are months older than any read time) and the
                # orders that look like a discrepancy and must stay clean.
                "reconciliation": {
                    "flags": sorted(self.expected_flags, key=lambda f: f["order_id"]),
                    "clean": self.lookalikes,
                },
            },
        )

    def build_orders(self, members: list[tuple[str, str]]) -> None:
        rng = self.rng
        for i in range(self.n["orders"]):
            order_id = f"order{i:06d}"
            uid, name = rng.choice(members)
            item, unit = rng.choice(MATERIALS)
            quantity = rng.randrange(1, 4)
            total = unit * quantity
            created = self.when()
            status = rng.choices(
                ["paid", "fulfilled", "checkout_pending", "cancelled", "completed"],
                weights=[5, 4, 2, 1, 2],
            )[0]
            pi_id, cs_id = f"pi_demo{i:06d}", f"cs_demo{i:06d}"
            plant = PLANTS.get(i % 500, "")
            lookalike = LOOKALIKES.get(i % 500, "")
            if plant in ("settled_not_paid", "checkout_stuck_pending"):
                status = "checkout_pending"
            elif plant:
                status = "paid"
            elif lookalike == "cancelled_with_expired_session":
                status = "cancelled"
            elif lookalike == "status_and_currency_in_capitals":
                status = "FULFILLED"
            elif lookalike:
                # Not drawn from rng, so the orders after a look-alike stay as they were.
                status = "paid" if i % 2 else "completed"
            pay_currency = "eur" if plant == "currency_mismatch" else "gbp"
            order = {
                "uid": uid,
                "displayName": name,
                "items": [{"name": item, "quantity": quantity, "unitCents": unit}],
                "status": status,
                "createdAt": created,
                "updatedAt": created + timedelta(minutes=7),
                "totalCents": total,
                "currency": "GBP" if lookalike == "status_and_currency_in_capitals" else "gbp",
                "stripeSessionId": cs_id,
            }
            if status != "checkout_pending":
                order["stripePaymentIntentId"] = pi_id
            self.add(f"materialsOrders/{order_id}", order, created)
            if lookalike:
                self.lookalikes.append({"order_id": order_id, "case": lookalike})
            if plant:
                self.expected_flags.append(
                    {"order_id": order_id, "class": RECONCILIATION_CLASS.get(plant, plant)}
                )
            elif status == "checkout_pending":
                self.expected_flags.append(
                    {"order_id": order_id, "class": "checkout_stuck_pending"}
                )
            if lookalike == "cancelled_with_expired_session":
                self.stripe["checkout_sessions"].append(
                    {
                        "id": cs_id,
                        "object": "checkout.session",
                        "client_reference_id": order_id,
                        "metadata": {"orderId": order_id, "uid": uid},
                        "payment_intent": None,
                        "payment_status": "unpaid",
                        "status": "expired",
                        "amount_total": total,
                        "currency": "gbp",
                        "created": int(created.timestamp()),
                    }
                )
            if status == "cancelled":
                continue
            paid = (
                status.lower() in ("paid", "fulfilled", "completed") and plant != "paid_not_settled"
            )
            paid = paid or plant == "settled_not_paid"
            amount = total + (100 if plant == "amount_mismatch" else 0)
            ts = int(created.timestamp())
            metadata = {"orderId": order_id, "uid": uid}
            self.stripe["checkout_sessions"].append(
                {
                    "id": cs_id,
                    "object": "checkout.session",
                    "client_reference_id": order_id,
                    "metadata": metadata,
                    "payment_intent": pi_id,
                    "payment_status": "paid" if paid else "unpaid",
                    "status": "complete" if paid else "open",
                    "amount_total": amount,
                    "currency": pay_currency,
                    "created": ts,
                }
            )
            self.stripe["payment_intents"].append(
                {
                    "id": pi_id,
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount if paid else 0,
                    "currency": pay_currency,
                    "status": "succeeded" if paid else "requires_payment_method",
                    "metadata": metadata,
                    "created": ts,
                    "latest_charge": f"ch_demo{i:06d}" if paid else None,
                }
            )
            if paid:
                self.stripe["charges"].append(
                    {
                        "id": f"ch_demo{i:06d}",
                        "object": "charge",
                        "amount": amount,
                        "currency": pay_currency,
                        "payment_intent": pi_id,
                        "status": "succeeded",
                        "paid": True,
                        "refunded": False,
                        "balance_transaction": f"txn_demo{i:06d}",
                        "metadata": metadata,
                        "created": ts + 5,
                    }
                )
                self.stripe["balance_transactions"].append(
                    {
                        "id": f"txn_demo{i:06d}",
                        "object": "balance_transaction",
                        "amount": amount,
                        "fee": round(amount * 0.015) + 20,
                        "net": amount - round(amount * 0.015) - 20,
                        "currency": pay_currency,
                        "status": "available",
                        "type": "charge",
                        "source": f"ch_demo{i:06d}",
                        "created": ts + 5,
                    }
                )
            if plant:
                self.planted.append({"order_id": order_id, "class": plant})
            if plant == "refund_not_reflected":
                self.stripe["refunds"].append(
                    {
                        "id": f"re_demo{i:06d}",
                        "object": "refund",
                        "amount": amount,
                        "charge": f"ch_demo{i:06d}",
                        "payment_intent": pi_id,
                        "currency": pay_currency,
                        "status": "succeeded",
                        "created": ts + 86400,
                    }
                )
            if lookalike == "partial_refund":
                self.stripe["refunds"].append(
                    {
                        "id": f"re_demo{i:06d}",
                        "object": "refund",
                        "amount": amount // 3,
                        "charge": f"ch_demo{i:06d}",
                        "payment_intent": pi_id,
                        "currency": pay_currency,
                        "status": "succeeded",
                        "created": ts + 86400,
                    }
                )
            if lookalike in ("won_dispute", "warning_closed_dispute"):
                self.stripe["disputes"].append(
                    {
                        "id": f"dp_demo{i:06d}",
                        "object": "dispute",
                        "amount": amount,
                        "charge": f"ch_demo{i:06d}",
                        "payment_intent": pi_id,
                        "currency": pay_currency,
                        "status": "won" if lookalike == "won_dispute" else "warning_closed",
                        "reason": "fraudulent",
                        "created": ts + 3 * 86400,
                    }
                )
            if plant == "dispute_not_reflected":
                self.stripe["disputes"].append(
                    {
                        "id": f"dp_demo{i:06d}",
                        "object": "dispute",
                        "amount": amount,
                        "charge": f"ch_demo{i:06d}",
                        "payment_intent": pi_id,
                        "currency": pay_currency,
                        "status": "needs_response",
                        "reason": "product_not_received",
                        "created": ts + 3 * 86400,
                    }
                )
            if plant == "duplicate_payment":
                self.stripe["payment_intents"].append(
                    {
                        "id": f"pi_demo{i:06d}_dup",
                        "object": "payment_intent",
                        "amount": amount,
                        "amount_received": amount,
                        "currency": pay_currency,
                        "status": "succeeded",
                        "metadata": metadata,
                        "created": ts + 40,
                        "latest_charge": f"ch_demo{i:06d}_dup",
                    }
                )
                self.stripe["charges"].append(
                    {
                        "id": f"ch_demo{i:06d}_dup",
                        "object": "charge",
                        "amount": amount,
                        "currency": pay_currency,
                        "payment_intent": f"pi_demo{i:06d}_dup",
                        "status": "succeeded",
                        "paid": True,
                        "refunded": False,
                        "balance_transaction": None,
                        "metadata": metadata,
                        "created": ts + 45,
                    }
                )
        self.stripe["payouts"].append(
            {
                "id": "po_demo000001",
                "object": "payout",
                "amount": 125000,
                "currency": "gbp",
                "status": "paid",
                "arrival_date": int(EPOCH.timestamp()) + 86400 * 30,
                "created": int(EPOCH.timestamp()) + 86400 * 28,
            }
        )


def generate(*, studio: str, size: str = "small", seed: int = 1) -> DemoCloud:
    """The demo cloud for a studio: same arguments, same data."""
    return _Builder(studio, size, seed).build()


def iter_documents(
    export: Mapping[str, Any],
) -> Iterator[tuple[str, dict[str, Any], datetime, datetime]]:
    """(path, fields as Python values, create time, update time) for every exported document."""
    for document in export["documents"]:
        fields = {key: decode_value(value) for key, value in document.get("fields", {}).items()}
        yield (
            document["name"],
            fields,
            datetime.fromisoformat(document["createTime"].replace("Z", "+00:00")),
            datetime.fromisoformat(document["updateTime"].replace("Z", "+00:00")),
        )
