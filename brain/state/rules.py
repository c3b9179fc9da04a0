"""The counting rules of docs/domain.md, exactly, including what a missing field means.

Each predicate takes one Firestore document's fields (a dict) and answers for one metric.
They are pure and total: any value of any type, or no value, has a defined answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Doc = Mapping[str, Any]

RESERVATION_CLOSED = frozenset({"cancelled", "completed", "declined", "closed"})
FIRING_SCHEDULED = frozenset({"queued", "scheduled", "loaded", "firing", "cooling", "ready"})
REPORT_OPEN = frozenset({"open", "triaged", "actioned"})
AGENT_REQUEST_PENDING = frozenset({"pending", "needs_review", "awaiting_payment"})
ORDER_NOT_PENDING = frozenset({"paid", "cancelled", "fulfilled", "completed"})
# An order whose money the cloud considers received.
ORDER_PAID = frozenset({"paid", "fulfilled", "completed"})


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def batch_is_closed(doc: Doc) -> bool:
    """A batch is closed when ``state`` is a string starting ``CLOSED_`` (case-sensitive)."""
    state = doc.get("state")
    return isinstance(state, str) and state.startswith("CLOSED_")


def reservation_is_open(doc: Doc) -> bool:
    """Open unless status is CANCELLED/COMPLETED/DECLINED/CLOSED in any case; missing = open."""
    return _lower(doc.get("status")) not in RESERVATION_CLOSED


def firing_is_scheduled(doc: Doc) -> bool:
    """queued/scheduled/loaded/firing/cooling/ready in any case; anything else or missing is not."""
    return _lower(doc.get("status")) in FIRING_SCHEDULED


def report_is_open(doc: Doc) -> bool:
    """open/triaged/actioned in any case, and a missing status, count as open."""
    if "status" not in doc or doc.get("status") is None:
        return True
    return _lower(doc.get("status")) in REPORT_OPEN


def report_is_high_severity(doc: Doc) -> bool:
    """severity high in any case, whatever the status; missing severity is low."""
    return _lower(doc.get("severity")) == "high"


def ticket_is_blocked(doc: Doc) -> bool:
    """Only the boolean ``true`` counts: the string "true" and the number 1 do not."""
    return doc.get("blocked") is True


def agent_request_is_pending(doc: Doc) -> bool:
    """pending/needs_review/awaiting_payment in any case; missing status is pending."""
    if "status" not in doc or doc.get("status") is None:
        return True
    return _lower(doc.get("status")) in AGENT_REQUEST_PENDING


def order_is_pending(doc: Doc) -> bool:
    """Pending unless paid/cancelled/fulfilled/completed in any case; missing status is pending."""
    return _lower(doc.get("status")) not in ORDER_NOT_PENDING


def order_is_paid(doc: Doc) -> bool:
    return _lower(doc.get("status")) in ORDER_PAID
