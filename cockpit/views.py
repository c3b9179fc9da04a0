"""Cockpit pages: the shell every staff page lives in, and the sections to come."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from brain.models import Role
from brain.selectors import job_run_list, membership_list
from cockpit.access import RoleRequired, studio_view
from cockpit.sparkline import sparkline_points
from connectors.models import ConnectorConfig
from connectors.selectors import connector_rows
from connectors.services import connector_check_mark_pending

log = structlog.stdlib.get_logger("cockpit.views")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    summary: str
    coming: tuple[str, ...]


SECTIONS: tuple[Section, ...] = (
    Section(
        "state",
        "State",
        "The studio's state as read from the cloud: daily snapshots, diffs and drift.",
        (
            "Latest snapshot: batches, reservations, firings, reports, tickets, orders, payments",
            "Read time and age per source (Firestore, Stripe), completeness and warnings",
            "Diffs between snapshots and drift against fresh cloud counts",
        ),
    ),
    Section(
        "proposals",
        "Proposals",
        "What automations and agents propose, waiting for staff to decide.",
        (
            "A queue of pending proposals with risk, requester and age",
            "Preview, expected effects, dry-run and the exact input hash being approved",
            "Approve or reject with a rationale; high-risk approvals ask for your password again",
        ),
    ),
    Section(
        "connectors",
        "Connectors",
        "The outside systems this studio reads: Firestore, Stripe, Hubitat, Roborock.",
        (
            "Availability, latency and circuit-breaker state per connector",
            "Devices with battery, online state and last activity",
            "A degraded banner whenever a connector is down",
        ),
    ),
    Section(
        "audit",
        "Audit",
        "The hash-chained record of every decision, allowed or denied.",
        (
            "A timeline filtered by action, actor, target and date",
            "Chain verification status at the top of the page",
            "Each row linked to the proposal, connector or setting it concerns",
        ),
    ),
    Section(
        "policy",
        "Policy",
        "The rules automations act under.",
        (
            "Kill switches by scope, with a two-admin release",
            "Exemptions, delegations to agents, quotas and their counters",
            "Intake review queue for blocked agent submissions",
        ),
    ),
    Section(
        "scorecard",
        "Scorecard",
        "How well the studio's brain is doing its job.",
        (
            "Snapshot freshness, decision latency, audit completeness, connector health",
            "Warning and critical thresholds with the overall status",
        ),
    ),
)
SECTIONS_BY_KEY = {section.key: section for section in SECTIONS}
# Sections with real pages (their URLs are in cockpit/urls.py); the rest show "coming" placeholders.
BUILT_SECTIONS = frozenset({"state", "connectors", "proposals", "audit", "policy"})


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send staff to their studio: the configured default if they belong to it, else their first."""
    memberships = membership_list(request.user)
    if not memberships:
        return render(request, "cockpit/no_studio.html", status=200)
    default = settings.BRAIN.default_studio
    chosen = next((m for m in memberships if m.studio.slug == default), memberships[0])
    return redirect("cockpit:overview", studio=chosen.studio.slug)


@require_GET
@studio_view()
def overview(request: HttpRequest) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    context = {
        "sections": SECTIONS,
        "job_runs": job_run_list(studio.id, limit=10),
        "active": "overview",
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cockpit/overview.html#job-runs", context)
    return render(request, "cockpit/overview.html", context)


def _connectors_context(request: HttpRequest) -> dict[str, Any]:
    studio = request.studio  # type: ignore[attr-defined]
    rows = connector_rows(studio.id)
    for row in rows:
        row.spark = sparkline_points(row.latencies)  # type: ignore[attr-defined]
    enabled = [r for r in rows if r.config.enabled]
    return {
        "active": "connectors",
        "rows": rows,
        "down": [r for r in enabled if r.availability == "down"],
        "degraded": [r for r in enabled if r.availability == "degraded"],
        "can_check": request.membership.has_role(Role.OPERATOR),  # type: ignore[attr-defined]
        "now": timezone.now(),
    }


@require_GET
@studio_view()
def connectors(request: HttpRequest) -> HttpResponse:
    """Every connector of the studio: availability, breaker, last error, latency, devices."""
    context = _connectors_context(request)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cockpit/connectors.html#connector-list", context)
    return render(request, "cockpit/connectors.html", context)


@require_POST
@studio_view(minimum=Role.OPERATOR)
def connector_check(request: HttpRequest, name: str) -> HttpResponse:
    """Queue a health check + read of one connector on the reads queue."""
    from brain.tasks_connectors import check_connector

    studio = request.studio  # type: ignore[attr-defined]
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
    if request.htmx:  # type: ignore[attr-defined]
        return render(
            request, "cockpit/connectors.html#connector-list", _connectors_context(request)
        )
    return redirect("cockpit:connectors", studio=studio.slug)


def section_view(key: str) -> Any:
    section = SECTIONS_BY_KEY[key]

    @require_GET
    @studio_view()
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, "cockpit/section.html", {"section": section, "active": key})

    view.__name__ = f"{key}_section"
    return view


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    needed = exception.needed.label if isinstance(exception, RoleRequired) else None
    message = (
        str(exception)
        if isinstance(exception, RoleRequired)
        else "You do not have access to this page."
    )
    return render(request, "403.html", {"message": message, "needed_role": needed}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without context processors: the database they read may be why we are here."""
    return HttpResponseServerError(loader.get_template("500.html").render())
