from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from brain.selectors import membership_list

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
    }
