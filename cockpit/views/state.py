"""Cockpit → State: the latest snapshot, its diffs and drift, and "Capture now"."""

from __future__ import annotations

from typing import Any, NamedTuple

import structlog
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from brain.models import JobRun, Role, SnapshotDiff
from brain.selectors import drift_finding_page, job_run_get, snapshot_diff_get, snapshot_latest
from brain.services.snapshots import snapshot_is_stale
from brain.state.snapshot import FIRESTORE_COLLECTIONS, FIRESTORE_GROUPS, STRIPE_COLLECTIONS
from brain.state.warnings import WarningCode, incomplete_collections
from brain.tasks import capture_studio_state
from cockpit.access import StudioRequest, studio_view

log = structlog.stdlib.get_logger("cockpit.state")


class Metric(NamedTuple):
    """A snapshot metric as staff read it. ``up_is_good``: whether a rise is good news (True),
    bad news (False) or neither (None: more active batches is just a busier week)."""

    name: str
    label: str
    up_is_good: bool | None


METRIC_GROUPS: tuple[tuple[str, str, tuple[Metric, ...]], ...] = (
    (
        "Studio",
        "counts",
        (
            Metric("batchesActive", "Active batches", None),
            Metric("batchesClosed", "Closed batches", None),
            Metric("reservationsOpen", "Open reservations", None),
            Metric("firingsScheduled", "Scheduled firings", None),
            Metric("reportsOpen", "Open community reports", False),
        ),
    ),
    (
        "Operations",
        "ops",
        (
            Metric("blockedTickets", "Blocked tickets", False),
            Metric("agentRequestsPending", "Pending agent requests", False),
            Metric("highSeverityReports", "High-severity reports", False),
        ),
    ),
    (
        "Finance",
        "finance",
        (
            Metric("pendingOrders", "Pending materials orders", None),
            Metric("unsettledPayments", "Orders and payments that disagree", False),
        ),
    ),
)


METRICS = {
    f"{key}.{metric.name}": metric for _title, key, items in METRIC_GROUPS for metric in items
}
METRIC_ORDER = {name: position for position, name in enumerate(METRICS)}
# A change's verdict in words, so the table never relies on colour alone.
VERDICT_TEXT = {"good": "better", "bad": "worse", "neutral": "neither better nor worse"}


def change_verdict(delta: int | None, up_is_good: bool | None) -> str:
    """ "good", "bad" or "neutral" for a change of ``delta`` in a metric."""
    if not delta or up_is_good is None:
        return "neutral"
    return "good" if (delta > 0) == up_is_good else "bad"


def metric_changes(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A diff's ``{metric: {from, to}}`` in the page's metric order, labelled, with the change
    and whether it is good news.

    JSON columns come back with their keys in Postgres' order, not ours, so order here.
    """
    rows = []
    for name in sorted(metrics, key=lambda name: (METRIC_ORDER.get(name, len(METRIC_ORDER)), name)):
        change = metrics[name]
        before, after = change.get("from"), change.get("to")
        delta = after - before if isinstance(before, int) and isinstance(after, int) else None
        metric = METRICS.get(name)
        verdict = change_verdict(delta, metric.up_is_good if metric else None)
        rows.append(
            {
                "metric": name,
                "label": metric.label if metric else name,
                "from": before,
                "to": after,
                "delta": delta,
                "verdict": verdict,
                "verdict_text": VERDICT_TEXT[verdict],
            }
        )
    return rows


def record_changes(records: dict[str, Any]) -> list[tuple[str, Any]]:
    """A diff's record changes per ``source:collection``, sorted by name."""
    return sorted(records.items())


def documents_read(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Documents read per source, in reading order (subcollection groups under their parent),
    each marked when its read failed or stopped at the scan limit."""
    diagnostics = content.get("diagnostics", {})
    scanned: dict[str, int] = diagnostics.get("documents_scanned", {})
    problems = {
        key: "failed" if code is WarningCode.READ_FAILED else "scan limit"
        for key, code in incomplete_collections(diagnostics.get("warnings", [])).items()
    }
    sources = []
    # Each parent collection directly followed by its subcollection groups.
    firestore_order = [
        name
        for parent in FIRESTORE_COLLECTIONS
        for name in (parent, *(g for g in FIRESTORE_GROUPS if g.startswith(f"{parent}/*/")))
    ]
    for source, title, order in (
        ("firestore", "Firestore", firestore_order),
        ("stripe", "Stripe", list(STRIPE_COLLECTIONS)),
    ):
        names = [name for name in order if f"{source}:{name}" in scanned]
        names += sorted(
            key.partition(":")[2]
            for key in scanned
            if key.startswith(f"{source}:") and key.partition(":")[2] not in order
        )
        if names:
            sources.append(
                {
                    "title": title,
                    "rows": [
                        {
                            "name": name,
                            "count": scanned[f"{source}:{name}"],
                            "sub": "/" in name,
                            "problem": problems.get(f"{source}:{name}", ""),
                        }
                        for name in names
                    ],
                }
            )
    return sources


def _metric_groups(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "title": title,
            "metrics": [
                {"label": metric.label, "value": content.get(key, {}).get(metric.name)}
                for metric in items
            ],
        }
        for title, key, items in METRIC_GROUPS
    ]


@require_GET
@studio_view()
def state(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    snapshot = snapshot_latest(studio.id)
    context = {
        "active": "state",
        "state_tab": "latest",
        "snapshot": snapshot,
        "stale": snapshot is not None and snapshot_is_stale(snapshot),
        "groups": _metric_groups(snapshot.content) if snapshot else [],
        "documents_read": documents_read(snapshot.content) if snapshot else [],
        "can_capture": request.membership.has_role(Role.OPERATOR),
    }
    return render(request, "cockpit/state.html", context)


@require_POST
@studio_view(Role.OPERATOR)
def state_capture(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    try:
        task = capture_studio_state.apply_async(args=(studio.id,))
    except Exception as error:  # broker down: say so, change nothing
        log.error("state.capture_not_queued", error=str(error))
        message = "Could not queue the capture: the job queue (Redis) is unreachable. Nothing was changed."
        if request.htmx:
            return render(request, "cockpit/state.html#capture-error", {"message": message})
        messages.error(request, message)
        return redirect("cockpit:state", studio=studio.slug)
    log.info("state.capture_queued", studio=studio.slug, task_id=task.id)
    if request.htmx:
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
def state_capture_progress(request: StudioRequest, task_id: str) -> HttpResponse:
    studio = request.studio
    run = job_run_get(studio.id, task_id)
    if run is not None and run.status in (JobRun.Status.SUCCEEDED, JobRun.Status.SKIPPED):
        return HttpResponseClientRefresh()
    return render(request, "cockpit/state.html#capture-progress", {"task_id": task_id, "run": run})


@require_GET
@studio_view()
def state_diffs(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    diffs = (
        SnapshotDiff.objects.filter(studio=studio)
        .select_related("current", "previous")
        .order_by("-current__generated_at", "-pk")
    )
    page = Paginator(diffs, 25).get_page(request.GET.get("page"))
    entries = [{"diff": diff, "changes": metric_changes(diff.metrics)} for diff in page]
    return render(
        request,
        "cockpit/state_diffs.html",
        {"active": "state", "state_tab": "diffs", "page": page, "entries": entries},
    )


@require_GET
@studio_view()
def state_diff_detail(request: StudioRequest, diff_id: int) -> HttpResponse:
    studio = request.studio
    diff = snapshot_diff_get(studio.id, diff_id)
    if diff is None:
        raise Http404("No such diff.")
    return render(
        request,
        "cockpit/state_diff_detail.html",
        {
            "active": "state",
            "state_tab": "diffs",
            "diff": diff,
            "changes": metric_changes(diff.metrics),
            "records": record_changes(diff.records),
        },
    )


@require_GET
@studio_view()
def state_drift(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    return render(
        request,
        "cockpit/state_drift.html",
        {
            "active": "state",
            "state_tab": "drift",
            "findings": drift_finding_page(studio.id),
            "drift_absolute": settings.BRAIN.drift_absolute,
            "drift_ratio_percent": round(settings.BRAIN.drift_ratio * 100),
        },
    )
