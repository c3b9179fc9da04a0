"""The cockpit shell: home, the overview, the sections to come, and the error pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.http import require_GET

from brain.context import current_request_id
from brain.selectors import job_run_list, membership_list
from cockpit.access import RoleRequired, StudioRequest, studio_view
from cockpit.context_processors import PRINCIPLES


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    summary: str
    # What a section that is not built yet will show; a built one has its own page.
    coming: tuple[str, ...] = ()


SECTIONS: tuple[Section, ...] = (
    Section(
        "state",
        "State",
        "The studio's state as read from the cloud: daily snapshots, diffs and drift.",
    ),
    Section(
        "proposals",
        "Proposals",
        "What automations and agents propose, waiting for staff to decide.",
    ),
    Section(
        "connectors",
        "Connectors",
        "The outside systems this studio reads: Firestore, Stripe, Hubitat, Roborock.",
    ),
    Section(
        "finance",
        "Finance",
        "Orders in the cloud against the money in Stripe: discrepancies with their evidence.",
    ),
    Section(
        "audit",
        "Audit",
        "The hash-chained record of every decision, allowed or denied.",
    ),
    Section(
        "policy",
        "Policy",
        "The rules automations act under.",
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
BUILT_SECTIONS = frozenset(section.key for section in SECTIONS if not section.coming)


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
def overview(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    context = {
        "sections": SECTIONS,
        "job_runs": job_run_list(studio.id, limit=10),
        "active": "overview",
    }
    if request.htmx:
        return render(request, "cockpit/overview.html#job-runs", context)
    return render(request, "cockpit/overview.html", context)


def section_view(key: str) -> Any:
    section = SECTIONS_BY_KEY[key]

    @require_GET
    @studio_view()
    def view(request: StudioRequest) -> HttpResponse:
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


def _bare_error(template: str, status: int) -> HttpResponse:
    """An error page rendered without context processors: the database, the session or the
    host name they read may be why we are here. It names the request id to quote."""
    context = {"principles": PRINCIPLES, "request_id": current_request_id()}
    return HttpResponse(loader.get_template(template).render(context), status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _bare_error("400.html", 400)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its CSRF token (CSRF_FAILURE_VIEW): usually a page left open."""
    return _bare_error("403_csrf.html", 403)


def server_error(request: HttpRequest) -> HttpResponse:
    return _bare_error("500.html", 500)
