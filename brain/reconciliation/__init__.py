"""Finance reconciliation (E07): orders in the cloud against the money in Stripe.

Pure Python, no Django: ``matcher.reconcile`` takes plain dicts (mirrored documents and
Stripe objects) and returns flags, and ``summary`` turns flags and money into weekly
figures. The rules are docs/domain.md's "Finance reconciliation"; docs/finance-reconciliation.md
explains them, the precedence, the confidence levels and the "every cent labelled" identity.
"""

from brain.reconciliation.matcher import (
    CLASSES,
    Flag,
    Order,
    Reconciliation,
    StripeIndex,
    reconcile,
)

__all__ = ["CLASSES", "Flag", "Order", "Reconciliation", "StripeIndex", "reconcile"]
