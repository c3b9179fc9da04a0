"""Cockpit → Connectors: availability, breaker, latency and devices, and "Check now"."""

from __future__ import annotations

from typing import Any

import structlog
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from brain.models import Role
from cockpit.access import StudioRequest, studio_view
from connectors.models import ConnectorConfig
from connectors.selectors import connector_rows
from connectors.services import connector_check_mark_pending

log = structlog.stdlib.get_logger("cockpit.views")


def _connectors_context(request: StudioRequest) -> dict[str, Any]:
    studio = request.studio
    rows = connector_rows(studio.id)
    enabled = [r for r in rows if r.config.enabled]
    return {
        "active": "connectors",
        "rows": rows,
        "down": [r for r in enabled if r.availability == "down"],
        "degraded": [r for r in enabled if r.availability == "degraded"],
        "can_check": request.membership.has_role(Role.OPERATOR),
        "now": timezone.now(),
    }


@require_GET
@studio_view()
def connectors(request: StudioRequest) -> HttpResponse:
    """Every connector of the studio: availability, breaker, last error, latency, devices."""
    context = _connectors_context(request)
    if request.htmx:
        return render(request, "cockpit/connectors.html#connector-list", context)
    return render(request, "cockpit/connectors.html", context)


@require_POST
@studio_view(minimum=Role.OPERATOR)
def connector_check(request: StudioRequest, name: str) -> HttpResponse:
    """Queue a health check + read of one connector on the reads queue."""
    from brain.tasks_connectors import check_connector

    studio = request.studio
    config = ConnectorConfig.objects.filter(studio=studio, name=name).first()
    if config is None:
        raise Http404("No such connector.")
    try:
        connector_check_mark_pending(config=config)
        check_connector.apply_async(args=(config.pk,))
    except Exception as error:  # broker or Redis down: say so, never a 500
        log.error(
            "connector.check.not_queued",
            connector=config.name,
            error=f"{type(error).__name__}: {error}",
        )
        messages.error(
            request, f"Could not queue a check of {config.name}: the task queue is unreachable."
        )
    else:
        messages.info(
            request, f"Check of {config.name} queued; this page updates when it finishes."
        )
    if request.htmx:
        return render(
            request, "cockpit/connectors.html#connector-list", _connectors_context(request)
        )
    return redirect("cockpit:connectors", studio=studio.slug)
