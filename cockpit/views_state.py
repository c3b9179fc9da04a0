"""Cockpit → State: the latest snapshot, its diffs and drift, and "Capture now"."""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from brain.models import JobRun, Role, SnapshotDiff
from brain.selectors import drift_finding_page, job_run_get, snapshot_diff_get, snapshot_latest
from brain.services.snapshots import snapshot_is_stale
from brain.tasks import capture_studio_state
from cockpit.access import studio_view

log = structlog.stdlib.get_logger("cockpit.state")

METRIC_GROUPS = (
    (
        "Studio",
        "counts",
        (
            ("batchesActive", "Active batches"),
            ("batchesClosed", "Closed batches"),
            ("reservationsOpen", "Open reservations"),
            ("firingsScheduled", "Scheduled firings"),
            ("reportsOpen", "Open community reports"),
        ),
    ),
    (
        "Operations",
        "ops",
        (
            ("blockedTickets", "Blocked tickets"),
            ("agentRequestsPending", "Pending agent requests"),
            ("highSeverityReports", "High-severity reports"),
        ),
    ),
    (
        "Finance",
        "finance",
        (
            ("pendingOrders", "Pending materials orders"),
            ("unsettledPayments", "Orders and payments that disagree"),
        ),
    ),
)


def _metric_groups(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "title": title,
            "metrics": [
                {"label": label, "value": content.get(key, {}).get(name)} for name, label in items
            ],
        }
        for title, key, items in METRIC_GROUPS
    ]


@require_GET
@studio_view()
def state(request: HttpRequest) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    snapshot = snapshot_latest(studio.id)
    context = {
        "active": "state",
        "state_tab": "latest",
        "snapshot": snapshot,
        "stale": snapshot is not None and snapshot_is_stale(snapshot),
        "groups": _metric_groups(snapshot.content) if snapshot else [],
        "can_capture": request.membership.has_role(Role.OPERATOR),  # type: ignore[attr-defined]
    }
    return render(request, "cockpit/state.html", context)


@require_POST
@studio_view(Role.OPERATOR)
def state_capture(request: HttpRequest) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    try:
        task = capture_studio_state.apply_async(args=(studio.id,), queue="reads")
    except Exception as error:  # broker down: say so, change nothing
        log.error("state.capture_not_queued", error=str(error))
        message = "Could not queue the capture: the job queue (Redis) is unreachable. Nothing was changed."
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "cockpit/state.html#capture-error", {"message": message})
        messages.error(request, message)
        return redirect("cockpit:state", studio=studio.slug)
    log.info("state.capture_queued", studio=studio.slug, task_id=task.id)
    if request.htmx:  # type: ignore[attr-defined]
        return render(
            request, "cockpit/state.html#capture-progress", {"task_id": task.id, "run": None}
        )
    messages.info(
        request,
        "Capture queued. The page shows the new snapshot once the worker has read the cloud.",
    )
    return redirect("cockpit:state", studio=studio.slug)


@require_GET
@studio_view(Role.OPERATOR)
def state_capture_progress(request: HttpRequest, task_id: str) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    run = job_run_get(studio.id, task_id)
    if run is not None and run.status in (JobRun.Status.SUCCEEDED, JobRun.Status.SKIPPED):
        return HttpResponseClientRefresh()
    return render(request, "cockpit/state.html#capture-progress", {"task_id": task_id, "run": run})


@require_GET
@studio_view()
def state_diffs(request: HttpRequest) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    diffs = (
        SnapshotDiff.objects.filter(studio=studio)
        .select_related("current", "previous")
        .order_by("-current__generated_at", "-pk")
    )
    page = Paginator(diffs, 25).get_page(request.GET.get("page"))
    return render(
        request, "cockpit/state_diffs.html", {"active": "state", "state_tab": "diffs", "page": page}
    )


@require_GET
@studio_view()
def state_diff_detail(request: HttpRequest, diff_id: int) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    diff = snapshot_diff_get(studio.id, diff_id)
    if diff is None:
        raise Http404("No such diff.")
    return render(
        request,
        "cockpit/state_diff_detail.html",
        {"active": "state", "state_tab": "diffs", "diff": diff},
    )


@require_GET
@studio_view()
def state_drift(request: HttpRequest) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    return render(
        request,
        "cockpit/state_drift.html",
        {
            "active": "state",
            "state_tab": "drift",
            "findings": drift_finding_page(studio.id),
            "drift_absolute": settings.BRAIN.drift_absolute,
        },
    )
