"""Pure helpers for Cockpit → Finance: staff words for flag classes, money, Stripe links."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404

from brain.models import ReconciliationFlag, Studio

# What staff read for each flag class; the code stays on hover (title=).
CLASS_LABELS: dict[str, str] = {
    "duplicate_payment": "Paid twice in Stripe",
    "paid_in_stripe_order_unpaid": "Paid in Stripe, order unpaid",
    "order_paid_without_payment": "Order paid, no payment in Stripe",
    "currency_mismatch": "Currency differs from Stripe",
    "amount_mismatch": "Amount differs from Stripe",
    "refund_not_reflected": "Refunded in Stripe, order still paid",
    "dispute_not_reflected": "Disputed in Stripe, order still paid",
    "checkout_stuck_pending": "Checkout stuck pending",
}

# Stripe dashboard path by object id prefix. Charges open on the payments page (Stripe
# redirects a charge id there). Ids carrying "_test_" (Checkout Sessions in test mode) get
# the dashboard's /test/ prefix; other ids do not say their mode, so they link to live mode,
# where Stripe's dashboard offers to switch.
DASHBOARD = "https://dashboard.stripe.com/"
DASHBOARD_PATHS: dict[str, str] = {
    "pi_": "payments",
    "ch_": "payments",
    "py_": "payments",
    "re_": "refunds",
    "pyr_": "refunds",
    "dp_": "disputes",
    "du_": "disputes",
    "cs_": "checkout/sessions",
}


def stripe_dashboard_url(object_id: str, *, test_mode: bool = False) -> str | None:
    """The Stripe dashboard page of an object id, or None for a kind we do not link."""
    for prefix, path in DASHBOARD_PATHS.items():
        if object_id.startswith(prefix):
            mode = "test/" if test_mode or "_test_" in object_id else ""
            return f"{DASHBOARD}{mode}{path}/{object_id}"
    return None


def money(cents: int | None, currency: str | None) -> str:
    """Cents as staff read them: "12.50 EUR"; a missing amount is an em dash."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    code = (currency or "").upper() or "?"
    return f"{sign}{whole:,}.{part:02d} {code}"


def class_label(name: str) -> str:
    return CLASS_LABELS.get(name, name.replace("_", " ").capitalize())


def stripe_rows(stripe_side: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Stripe object of a flag's Stripe side, flattened, with its dashboard link."""
    rows: list[dict[str, Any]] = []
    for kind, objects in stripe_side.items():
        if not isinstance(objects, list):
            continue
        for obj in objects:
            if not isinstance(obj, dict):
                continue
            object_id = str(obj.get("id") or "")
            amount = next(
                (
                    obj[key]
                    for key in ("amount_received", "amount", "amount_total")
                    if obj.get(key) is not None
                ),
                None,
            )
            rows.append(
                {
                    "kind": kind,
                    "id": object_id,
                    "status": str(obj.get("status") or "").replace("_", " "),
                    "amount": money(amount, obj.get("currency")) if amount is not None else "—",
                    "url": stripe_dashboard_url(object_id) if object_id else None,
                }
            )
    return rows


def finance_adjust_initial(studio: Studio, flag_id: int) -> dict[str, Any]:
    """The New proposal form pre-filled from an open flag of the studio (404 otherwise):
    the staff member writes the note and the rationale."""
    flag = ReconciliationFlag.objects.filter(
        studio=studio, pk=flag_id, resolved_at__isnull=True
    ).first()
    if flag is None:
        raise Http404("No such open reconciliation flag.")
    proposed = {
        "order_collection": flag.order_collection,
        "order_id": flag.order_id,
        "flag": flag.flag_class,
        "flag_id": flag.pk,
        "evidence": flag.evidence,
        "note": "",
    }
    return {
        "capability": "finance.reconciliation.adjust",
        "input": json.dumps(proposed, indent=2, sort_keys=True),
        "rationale": (
            f"{class_label(flag.flag_class)} on {flag.order_collection} {flag.order_id}: "
            f"at stake {money(flag.amount_cents, flag.currency)}; "
            f"evidence {', '.join(flag.evidence) or 'none (absence of a payment)'}."
        ),
    }
