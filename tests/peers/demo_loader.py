"""Load a generated demo cloud (``brain.state.demo.generate``) into the Firestore and Stripe peers.

Test support only: it writes, through the stock clients, what the brain must only ever read.

- Firestore: every exported document, decoded to Python values, in batched writes of 500
  (optionally in a shuffled order, to prove arrival order does not matter).
- Stripe: PaymentIntents are created in localstripe through the real client (confirmed with
  ``pm_card_visa`` when the demo's intent succeeded, so localstripe makes the charge and its
  balance transaction), refunds are created against those charges, one payout in EUR (the
  only currency localstripe pays out). Checkout Sessions and Disputes, which localstripe
  lacks, are served by the front from the demo's objects.

localstripe picks its own ids, so every cross-reference is rewritten to them: the orders'
``stripePaymentIntentId``, the sessions' and disputes' ``payment_intent`` and ``charge``.
``LoadedDemo.intent_ids`` maps demo ids to localstripe ids; ``rewrite_export`` applies the
same mapping to a demo export, so a demo source over the rewritten files sees exactly the
Firestore data the peer holds.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

from google.cloud import firestore

from brain.state.demo import DemoCloud, encode_value, iter_documents
from tests.peers.stripe_peer import StripePeer

BATCH = 500


@dataclass
class LoadedDemo:
    documents: int
    intent_ids: dict[str, str] = field(default_factory=dict)  # demo pi id -> localstripe id
    charge_ids: dict[str, str] = field(default_factory=dict)  # demo ch id -> localstripe id
    stripe_objects: dict[str, int] = field(default_factory=dict)


def load_firestore(
    client: firestore.Client, export: dict[str, Any], *, shuffle_seed: int | None = None
) -> int:
    """Write every document of a Firestore-export-shaped dict; return how many."""
    documents = list(iter_documents(export))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(documents)
    for start in range(0, len(documents), BATCH):
        batch = client.batch()
        for path, fields, _created, _updated in documents[start : start + BATCH]:
            batch.set(client.document(path), fields)
        batch.commit()
    return len(documents)


def load_stripe(peer: StripePeer, objects: dict[str, list[dict[str, Any]]]) -> LoadedDemo:
    """Recreate the demo's Stripe objects in the peer; return the id mappings."""
    client = peer.client()
    loaded = LoadedDemo(documents=0)
    created_at: dict[str, int] = {}
    intents = sorted(objects["payment_intents"], key=lambda pi: (pi["created"], pi["id"]))
    for intent in intents:
        params: dict[str, Any] = {
            "amount": intent["amount"],
            "currency": intent["currency"],
            "metadata": intent.get("metadata") or {},
        }
        if intent["status"] == "succeeded":
            params |= {"payment_method": "pm_card_visa", "confirm": True}
        made = client.v1.payment_intents.create(params=params).to_dict()
        loaded.intent_ids[intent["id"]] = made["id"]
        created_at[intent["id"]] = made["created"]
        charge = made.get("latest_charge")
        if intent.get("latest_charge") and isinstance(charge, dict):
            loaded.charge_ids[intent["latest_charge"]] = charge["id"]
    for refund in objects["refunds"]:
        client.v1.refunds.create(
            params={"charge": loaded.charge_ids[refund["charge"]], "amount": refund["amount"]}
        )
    client.v1.payouts.create(params={"amount": 1000, "currency": "eur"})

    def rewritten(obj: dict[str, Any]) -> dict[str, Any]:
        copied = copy.deepcopy(obj)
        demo_intent = copied.get("payment_intent")
        if demo_intent in loaded.intent_ids:
            copied["payment_intent"] = loaded.intent_ids[demo_intent]
            copied["created"] = created_at[demo_intent]
        if copied.get("charge") in loaded.charge_ids:
            copied["charge"] = loaded.charge_ids[copied["charge"]]
        return copied

    peer.load_checkout_sessions([rewritten(s) for s in objects["checkout_sessions"]])
    peer.load_disputes([rewritten(d) for d in objects["disputes"]])
    loaded.stripe_objects = {kind: len(items) for kind, items in objects.items()}
    return loaded


def rewrite_export(export: dict[str, Any], intent_ids: dict[str, str]) -> dict[str, Any]:
    """The export with orders' and event charges' ``stripePaymentIntentId`` rewritten."""
    rewritten = copy.deepcopy(export)
    for document in rewritten["documents"]:
        typed = document.get("fields", {}).get("stripePaymentIntentId")
        if typed and typed.get("stringValue") in intent_ids:
            document["fields"]["stripePaymentIntentId"] = encode_value(
                intent_ids[typed["stringValue"]]
            )
    return rewritten


def load_demo(
    demo: DemoCloud,
    *,
    firestore_client: firestore.Client,
    stripe_peer: StripePeer,
    shuffle_seed: int | None = None,
) -> LoadedDemo:
    """Stripe first (its ids are needed), then Firestore with the orders pointing at them."""
    loaded = load_stripe(stripe_peer, demo.stripe)
    export = rewrite_export(demo.firestore, loaded.intent_ids)
    loaded.documents = load_firestore(firestore_client, export, shuffle_seed=shuffle_seed)
    return loaded
