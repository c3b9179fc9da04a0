"""Snapshot v3.0 content, computed by pure functions from mirrored cloud records.

The *content* holds only what follows from the cloud data (metrics, source hashes, the
completeness verdict and its warnings, documents scanned), so the same cloud data gives
byte-identical canonical JSON and the same SHA-256 whatever order documents arrived in.
Times that vary per capture (generated_at, read times, durations) live beside the content,
in the snapshot row, not inside the hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from brain.state import rules
from brain.state import warnings as snapshot_warnings
from brain.state.warnings import SnapshotWarning
from connectors.sdk.canonical import canonical_hash

SCHEMA_VERSION = "3.0"

# Top-level Firestore collections the brain reads (docs/domain.md). Subcollections are mirrored
# under "<parent>/<id>/<name>" paths by the reader and do not feed the metrics.
FIRESTORE_COLLECTIONS = (
    "batches",
    "reservations",
    "kilns",
    "kilnFirings",
    "kilnLaunchRequests",
    "firingsCalendarEvents",
    "communityReports",
    "communityReportAppeals",
    "trackerTickets",
    "agentRequests",
    "materialsOrders",
    "events",
    "eventSignups",
    "eventCharges",
    "profiles",
    "users",
    "agentClients",
    "delegations",
)
# Subcollections read under every document of their parent (docs/domain.md), mirrored as
# "<parent>/<id>/<name>" and counted, scan-limited and reported per group "<parent>/*/<name>".
FIRESTORE_SUBCOLLECTIONS: dict[str, tuple[str, ...]] = {
    "batches": ("pieces", "timeline", "clientNotes", "studioNotes", "audit", "media"),
    "communityReports": ("internalNotes", "actions"),
}
# Every collection group the brain reads, in reading order (parents before their children).
FIRESTORE_GROUPS = FIRESTORE_COLLECTIONS + tuple(
    f"{parent}/*/{name}" for parent, names in FIRESTORE_SUBCOLLECTIONS.items() for name in names
)
STRIPE_COLLECTIONS = (
    "checkout_sessions",
    "payment_intents",
    "charges",
    "refunds",
    "disputes",
    "balance_transactions",
    "payouts",
)

Doc = Mapping[str, Any]


@dataclass(frozen=True)
class CollectionRead:
    """How the read of one collection went."""

    source: str  # firestore | stripe
    collection: str
    scanned: int
    hit_scan_limit: bool = False
    error: str | None = None  # an error code and message when the read failed


@dataclass(frozen=True)
class MirrorEntry:
    """One mirrored record as the snapshot sees it: its path and content hash."""

    source: str
    collection: str
    doc_id: str
    content_hash: str


def source_hashes(entries: Iterable[MirrorEntry]) -> dict[str, str]:
    """One hash per source over its sorted (collection, id, content hash) triples."""
    by_source: dict[str, list[tuple[str, str, str]]] = {}
    for entry in entries:
        by_source.setdefault(entry.source, []).append(
            (entry.collection, entry.doc_id, entry.content_hash)
        )
    return {
        source: canonical_hash(sorted(triples)) for source, triples in sorted(by_source.items())
    }


def _count(docs: Iterable[Doc], predicate: Any) -> int:
    return sum(1 for doc in docs if predicate(doc))


def _order_id_of(obj: Doc) -> str | None:
    raw_metadata = obj.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
    order_id = obj.get("client_reference_id") or metadata.get("orderId")
    return order_id if isinstance(order_id, str) and order_id else None


def unsettled_payments(
    orders: Mapping[str, Doc], stripe: Mapping[str, Iterable[Doc]]
) -> list[dict[str, str]]:
    """Orders whose cloud status and Stripe money disagree, with the side that disagrees.

    - ``paid_not_settled``: the order is paid (paid/fulfilled/completed) in Firestore but no
      PaymentIntent of it has succeeded and no Checkout Session of it is paid;
    - ``settled_not_paid``: Stripe holds a succeeded PaymentIntent or paid Checkout Session for
      an order id whose order is missing or not paid in Firestore.
    Orders are linked by ``stripePaymentIntentId`` and by Checkout Sessions'
    ``client_reference_id`` / ``metadata.orderId`` (how the cloud app creates them).
    """
    intents = {
        pi["id"]: pi for pi in stripe.get("payment_intents", ()) if isinstance(pi.get("id"), str)
    }
    settled_orders: set[str] = set()
    intents_of_order: dict[str, set[str]] = {}
    for session in stripe.get("checkout_sessions", ()):
        order_id = _order_id_of(session)
        if order_id is None:
            continue
        if session.get("payment_status") == "paid":
            settled_orders.add(order_id)
        if isinstance(session.get("payment_intent"), str):
            intents_of_order.setdefault(order_id, set()).add(session["payment_intent"])
    for intent in intents.values():
        order_id = _order_id_of(intent)
        if order_id is not None:
            intents_of_order.setdefault(order_id, set()).add(intent["id"])
    for order_id, doc in orders.items():
        if isinstance(doc.get("stripePaymentIntentId"), str):
            intents_of_order.setdefault(order_id, set()).add(doc["stripePaymentIntentId"])
    for order_id, intent_ids in intents_of_order.items():
        if any(intents.get(pi, {}).get("status") == "succeeded" for pi in intent_ids):
            settled_orders.add(order_id)

    flagged = [
        {"order_id": order_id, "class": "paid_not_settled"}
        for order_id, doc in orders.items()
        if rules.order_is_paid(doc) and order_id not in settled_orders
    ]
    flagged += [
        {"order_id": order_id, "class": "settled_not_paid"}
        for order_id in settled_orders
        if order_id not in orders or not rules.order_is_paid(orders[order_id])
    ]
    return sorted(flagged, key=lambda item: (item["order_id"], item["class"]))


def compute_content(
    *,
    firestore: Mapping[str, Mapping[str, Doc]],
    stripe: Mapping[str, Iterable[Doc]],
    reads: Iterable[CollectionRead],
    mirror: Iterable[MirrorEntry],
) -> dict[str, Any]:
    """The snapshot content from mirrored documents (``firestore[collection][doc_id] = fields``)."""

    def docs(collection: str) -> list[Doc]:
        return list(firestore.get(collection, {}).values())

    batches = docs("batches")
    reports = docs("communityReports")
    warnings: list[SnapshotWarning] = []
    scanned: dict[str, int] = {}
    partial = False
    for read in reads:
        scanned[f"{read.source}:{read.collection}"] = read.scanned
        if read.error:
            partial = True
            warnings.append(snapshot_warnings.read_failed(read.source, read.collection, read.error))
        elif read.hit_scan_limit:
            partial = True
            warnings.append(
                snapshot_warnings.scan_limit(read.source, read.collection, read.scanned)
            )
    unsettled = unsettled_payments(firestore.get("materialsOrders", {}), stripe)
    return {
        "schema_version": SCHEMA_VERSION,
        "counts": {
            "batchesActive": sum(1 for b in batches if not rules.batch_is_closed(b)),
            "batchesClosed": _count(batches, rules.batch_is_closed),
            "reservationsOpen": _count(docs("reservations"), rules.reservation_is_open),
            "firingsScheduled": _count(docs("kilnFirings"), rules.firing_is_scheduled),
            "reportsOpen": _count(reports, rules.report_is_open),
        },
        "ops": {
            "blockedTickets": _count(docs("trackerTickets"), rules.ticket_is_blocked),
            "agentRequestsPending": _count(docs("agentRequests"), rules.agent_request_is_pending),
            "highSeverityReports": _count(reports, rules.report_is_high_severity),
        },
        "finance": {
            "pendingOrders": _count(docs("materialsOrders"), rules.order_is_pending),
            "unsettledPayments": len({item["order_id"] for item in unsettled}),
        },
        "source_hashes": source_hashes(mirror),
        "diagnostics": {
            "completeness": "partial" if partial else "full",
            "warnings": snapshot_warnings.sorted_warnings(warnings),
            "documents_scanned": dict(sorted(scanned.items())),
        },
    }


def metrics_of(content: Mapping[str, Any]) -> dict[str, int]:
    """Flat ``group.metric -> value`` view of a snapshot's metrics, for diffs and drift."""
    return {
        f"{group}.{name}": value
        for group in ("counts", "ops", "finance")
        for name, value in sorted(content.get(group, {}).items())
    }
