from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from brain.selectors import membership_list
from governance.selectors.execution import kill_switches_covering
from governance.selectors.proposals import pending_proposal_count

PRINCIPLES = ("Cloud authoritative", "Local proposes", "Writes require approval")


def cockpit(request: HttpRequest) -> dict[str, Any]:
    """The studio switcher and the banners every page shows."""
    memberships = membership_list(request.user) if hasattr(request, "user") else []
    return {
        "memberships": memberships,
        "current_studio": getattr(request, "studio", None),
        "current_membership": getattr(request, "membership", None),
        "principles": PRINCIPLES,
        "demo_mode": settings.BRAIN.demo_mode,
        "writes_enabled": settings.BRAIN.enable_write_execution,
        "pending_proposals": _pending_proposals(request),
        "kill_switches_on": _kill_switches_on(request),
    }


def _kill_switches_on(request: HttpRequest) -> Callable[[], list[Any]] | None:
    """The red banner's switches, as a callable: one query, run when the page renders."""
    studio = getattr(request, "studio", None)
    if studio is None:
        return None
    return partial(kill_switches_covering, studio.pk)


def _pending_proposals(request: HttpRequest) -> Callable[[], int] | None:
    """The navigation badge, as a callable: the COUNT runs only when a template shows it."""
    studio = getattr(request, "studio", None)
    if studio is None:
        return None
    return partial(pending_proposal_count, studio.pk)
