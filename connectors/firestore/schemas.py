"""Firestore settings and the field masks: which fields of each collection the brain reads.

A mask is data minimisation as much as speed: the mirror keeps only what the counting
rules, reconciliation and the agent-identity checks use, so free text (notes, addresses)
never lands in the local database. ``None`` means the whole document, for collections
whose field names the brain does not yet pin down (agent identities). A collection group
without an entry here is not read at all: the reader refuses it rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from connectors.sdk.schemas import ConnectorSettings

FieldMask = tuple[str, ...] | None

# Keyed by collection group: a top-level collection ("batches") or a subcollection under
# any parent document ("batches/*/pieces"). Timestamps the servers rewrite (updatedAt) are
# read so the mirror can show them, and kept out of content hashes by the brain.
FIELD_MASKS: dict[str, FieldMask] = {
    "batches": ("state", "ownerUid", "title", "createdAt", "updatedAt"),
    "batches/*/pieces": ("kind", "status", "glaze", "weightGrams"),
    "batches/*/timeline": ("type", "at", "createdAt", "actorUid"),
    "batches/*/clientNotes": ("createdAt", "authorUid"),
    "batches/*/studioNotes": ("createdAt", "authorUid"),
    "batches/*/audit": ("action", "at", "createdAt", "actorUid"),
    "batches/*/media": ("kind", "contentType", "createdAt"),
    "reservations": ("status", "uid", "slot", "wheel", "createdAt", "updatedAt"),
    "kilns": ("name", "status", "maxTempC"),
    "kilnFirings": ("status", "kilnId", "cone", "startAt", "updatedAt"),
    "kilnLaunchRequests": ("status", "kilnId", "uid", "createdAt", "updatedAt"),
    "firingsCalendarEvents": ("status", "kilnId", "firingId", "startAt", "endAt"),
    "communityReports": ("status", "severity", "reason", "reporterUid", "createdAt", "updatedAt"),
    "communityReports/*/internalNotes": ("createdAt", "authorUid"),
    "communityReports/*/actions": ("action", "at", "actorUid"),
    "communityReportAppeals": ("status", "reportId", "uid", "createdAt", "updatedAt"),
    "trackerTickets": ("blocked", "status", "title", "createdAt", "updatedAt"),
    "agentRequests": ("status", "agentId", "kind", "createdAt", "updatedAt"),
    "materialsOrders": (
        "uid",
        "displayName",
        "items",
        "status",
        "createdAt",
        "updatedAt",
        "totalCents",
        "currency",
        "stripeSessionId",
        "stripePaymentIntentId",
    ),
    "events": ("title", "status", "startsAt", "priceCents"),
    "eventSignups": ("eventId", "uid", "status", "paymentStatus"),
    "eventCharges": (
        "eventId",
        "uid",
        "priceCents",
        "currency",
        "status",
        "createdAt",  # reconciliation's checkout_stuck_pending needs the charge's age
        "stripeSessionId",
        "stripePaymentIntentId",
    ),
    "profiles": ("displayName", "memberSince"),
    "users": ("role", "active"),
    # Agent identity and delegation (docs/domain.md): read whole until the app's field names are pinned.
    "agentClients": None,
    "delegations": None,
}


def mask_for(group: str) -> FieldMask:
    """The mask of a collection group; ``KeyError`` when the brain does not read it."""
    return FIELD_MASKS[group]


def apply_mask(fields: Mapping[str, Any], mask: FieldMask) -> dict[str, Any]:
    """What a ``select(mask)`` query returns for these fields (dotted paths select nested keys).

    The demo source uses it so demo files mirror exactly what the reader would mirror.
    """
    if mask is None:
        return dict(fields)
    selected: dict[str, Any] = {}
    for path in mask:
        head, _, rest = path.partition(".")
        if head not in fields:
            continue
        if not rest:
            selected[head] = fields[head]
        elif isinstance(fields[head], Mapping):
            nested = apply_mask(fields[head], (rest,))
            if nested:
                merged = selected.setdefault(head, {})
                merged.update(nested)
    return selected


class FirestoreSettings(ConnectorSettings):
    project: str = Field(
        "",
        max_length=100,
        description="Google Cloud project id (empty: BRAIN_FIRESTORE_PROJECT, or the credentials').",
    )
    database: str = Field("(default)", max_length=100, description="Firestore database id.")
    page_size: int = Field(500, ge=1, le=1000, description="Documents per query page.")
    # One page of 500 small documents takes well under a second; 15 s leaves room for a
    # slow link without letting a stalled stream hold a worker for long.
    timeout: float = Field(15.0, ge=0.05, le=60, description="Seconds one query may take.")
    max_concurrency: int = Field(
        4, ge=1, le=16, description="Subcollection queries in flight at once."
    )

    @field_validator("project")
    @classmethod
    def project_is_an_id(cls, value: str) -> str:
        value = value.strip()
        if value and not all(ch.isalnum() or ch in "-_" for ch in value):
            raise ValueError("must be a Google Cloud project id (letters, digits, hyphens)")
        return value
