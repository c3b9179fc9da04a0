"""Reads of studios, memberships and job runs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from brain.models import JobRun, Membership


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


def job_run_list(studio_id: int | None, limit: int = 20) -> list[JobRun]:
    runs = JobRun.objects.all()
    runs = (
        runs.filter(studio__isnull=True) if studio_id is None else runs.filter(studio_id=studio_id)
    )
    return list(runs.order_by("-started_at")[:limit])
