"""Reads of studios, memberships and job runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from brain.models import CloudRecord, DriftFinding, JobRun, Membership, Role, Snapshot, SnapshotDiff
from brain.reconciliation.matcher import ORDER_COLLECTIONS, Order


def _served(qs: QuerySet[Membership]) -> QuerySet[Membership]:
    allowed = settings.BRAIN.allowed_studios
    return qs.filter(studio__slug__in=allowed) if allowed else qs


def membership_list(user: AbstractBaseUser | AnonymousUser) -> list[Membership]:
    """The studios this user may open here, with their role, for the studio switcher."""
    if not user.is_authenticated:
        return []
    return list(
        _served(Membership.objects.filter(user_id=user.pk))
        .select_related("studio")
        .order_by("studio__name")
    )


def membership_get(user: AbstractBaseUser | AnonymousUser, studio_slug: str) -> Membership | None:
    """The user's membership of a studio, or None (unknown studio and non-member look the same)."""
    if not user.is_authenticated:
        return None
    return (
        _served(Membership.objects.filter(user_id=user.pk, studio__slug=studio_slug))
        .select_related("studio")
        .first()
    )


def studio_ids_with_role(user: AbstractBaseUser | AnonymousUser, minimum: Role) -> set[int]:
    """The studios served here in which the user holds at least ``minimum`` (one query)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    memberships = _served(Membership.objects.filter(user_id=user.pk, role__gte=minimum))
    return set(memberships.values_list("studio_id", flat=True))


def studio_members(studio_id: int) -> list[Membership]:
    """The studio's members with their users, by username (one query)."""
    return list(
        Membership.objects.filter(studio_id=studio_id, user__is_active=True)
        .select_related("user")
        .order_by("user__username")
    )


def member_label(membership: Membership) -> str:
    """A member as staff read them: full name (username, role), or username (role)."""
    user = membership.user
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    who = f"{full_name} ({user.get_username()}, " if full_name else f"{user.get_username()} ("
    return f"{who}{membership.get_role_display()})"


def job_run_list(studio_id: int, limit: int = 20) -> list[JobRun]:
    return list(JobRun.objects.filter(studio_id=studio_id).order_by("-started_at")[:limit])


def snapshot_latest(studio_id: int) -> Snapshot | None:
    return Snapshot.objects.filter(studio_id=studio_id).order_by("-generated_at", "-pk").first()


def snapshot_diff_get(studio_id: int, diff_id: int) -> SnapshotDiff | None:
    return (
        SnapshotDiff.objects.filter(studio_id=studio_id, pk=diff_id)
        .select_related("current", "previous")
        .first()
    )


def drift_finding_page(studio_id: int, *, limit: int = 50) -> list[DriftFinding]:
    return list(
        DriftFinding.objects.filter(studio_id=studio_id)
        .select_related("snapshot")
        .order_by("-checked_at")[:limit]
    )


def job_run_get(studio_id: int, job_id: str) -> JobRun | None:
    return JobRun.objects.filter(studio_id=studio_id, job_id=job_id).order_by("-started_at").first()


# The Stripe collections the reconciliation rules read (balance transactions and payouts
# carry no order link and no rule uses them).
RECONCILED_STRIPE = ("checkout_sessions", "payment_intents", "charges", "refunds", "disputes")


def reconciliation_mirror(studio_id: int) -> tuple[list[Order], dict[str, list[dict[str, Any]]]]:
    """The studio's live mirrored orders and the Stripe objects reconciliation reads.

    One query, whatever the number of orders (and one consistent view of the mirror: a
    capture committing meanwhile is either wholly in it or not at all).
    """
    rows = (
        CloudRecord.objects.filter(studio_id=studio_id, deleted_at__isnull=True)
        .filter(
            Q(source=CloudRecord.Source.FIRESTORE, collection__in=ORDER_COLLECTIONS)
            | Q(source=CloudRecord.Source.STRIPE, collection__in=RECONCILED_STRIPE)
        )
        .values_list("source", "collection", "doc_id", "data")
    )
    orders: list[Order] = []
    stripe: dict[str, list[dict[str, Any]]] = {name: [] for name in RECONCILED_STRIPE}
    for source, collection, doc_id, data in rows.iterator(chunk_size=10000):
        if source == CloudRecord.Source.FIRESTORE:
            orders.append(Order(collection, doc_id, data))
        else:
            stripe[collection].append(data)
    return orders, stripe
