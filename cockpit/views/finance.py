"""Cockpit → Finance: reconciliation flags with their evidence, the weekly summary, and
"Reconcile now" (docs/finance-reconciliation.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from brain.models import ReconciliationFlag, ReconciliationRun, Role
from brain.reconciliation.matcher import CLASSES
from brain.services.reconciliation import STALE_STRIPE_READ
from cockpit.access import StudioRequest, studio_view
from cockpit.finance import class_label, money, stripe_dashboard_url, stripe_rows
from governance.models import Proposal

log = structlog.stdlib.get_logger("cockpit.views")

ORDER_FIELDS = ("status", "amount_cents", "currency", "created_at")


def _by_currency(line: dict[str, Any]) -> str:
    split = line.get("by_currency") or {}
    return " + ".join(money(c, cur) for cur, c in sorted(split.items())) or "—"


def _week_lines(weeks: list[dict[str, Any]]) -> dict[str, Any]:
    """This week and last week (the run's two latest weeks), by class, with the identity."""
    recent = list(reversed(weeks[-2:]))
    this_week = recent[0] if recent else None
    last_week = recent[1] if len(recent) > 1 else None
    rows = []
    for name in CLASSES:
        now_line = (this_week or {}).get("by_class", {}).get(name, {})
        before = (last_week or {}).get("by_class", {}).get(name, {})
        if not now_line.get("count") and not before.get("count"):
            continue
        rows.append(
            {
                "code": name,
                "label": class_label(name),
                "this_count": now_line.get("count", 0),
                "this_amount": _by_currency(now_line),
                "last_count": before.get("count", 0),
                "last_amount": _by_currency(before),
            }
        )
    identity = []
    for currency, line in ((this_week or {}).get("money") or {}).items():
        identity.append(
            {
                "currency": currency,
                "payments": money(line["payments_cents"], currency),
                "refunds": money(line["refunds_cents"], currency),
                "disputes_lost": money(line["disputes_lost_cents"], currency),
                "net": money(line["net_cents"], currency),
                "matched": money(line["matched_cents"], currency),
                "flagged": money(line["flagged_cents"], currency),
                "remainder": money(line["remainder_cents"], currency),
                "remainder_cents": line["remainder_cents"],
                "remainder_ids": line.get("remainder_ids", []),
            }
        )
    return {"this_week": this_week, "last_week": last_week, "rows": rows, "identity": identity}


def _when(value: Any) -> datetime | None:
    """An ISO time from a flag's stored order side, so the template shows it in studio time."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _flag_view(flag: ReconciliationFlag) -> dict[str, Any]:
    order = flag.details.get("order", {}) if isinstance(flag.details, dict) else {}
    stripe = flag.details.get("stripe", {}) if isinstance(flag.details, dict) else {}
    evidence = [{"id": i, "url": stripe_dashboard_url(i)} for i in flag.evidence]
    return {
        "flag": flag,
        "label": class_label(flag.flag_class),
        "at_stake": money(flag.amount_cents, flag.currency),
        "order_amount": money(flag.order_amount_cents, flag.order_currency),
        "stripe_amount": money(flag.stripe_amount_cents, flag.stripe_currency),
        "order_status": str(order.get("status") or order.get("status_read") or "—").replace(
            "_", " "
        ),
        "order_created": _when(order.get("created_at")),
        "stripe_rows": stripe_rows(stripe),
        "evidence": evidence,
    }


def _adjustments(studio_id: int, flags: list[ReconciliationFlag]) -> dict[int, Proposal]:
    """The latest adjustment proposal made from each flag (one query)."""
    latest: dict[int, Proposal] = {}
    rows = Proposal.objects.filter(
        studio_id=studio_id,
        capability_id="finance.reconciliation.adjust",
        input__flag_id__in=[flag.pk for flag in flags],
    ).order_by("created_at", "pk")
    for proposal in rows.only("pk", "status", "input", "created_at"):
        latest[proposal.input["flag_id"]] = proposal
    return latest


def _finance_context(request: StudioRequest) -> dict[str, Any]:
    studio = request.studio
    run = (
        ReconciliationRun.objects.filter(studio=studio)
        .select_related("studio")
        .order_by("-started_at", "-pk")
        .first()
    )
    flags = list(
        ReconciliationFlag.objects.filter(studio=studio, resolved_at__isnull=True).order_by(
            "flag_class", "-amount_cents", "order_id"
        )
    )
    adjustments = _adjustments(studio.pk, flags) if flags else {}
    groups = []
    for name in CLASSES:
        members = [
            {**_flag_view(f), "adjustment": adjustments.get(f.pk)}
            for f in flags
            if f.flag_class == name
        ]
        if not members:
            continue
        totals: dict[str, int] = {}
        for item in members:
            currency = item["flag"].currency or "unknown"
            totals[currency] = totals.get(currency, 0) + (item["flag"].amount_cents or 0)
        groups.append(
            {
                "code": name,
                "label": class_label(name),
                "flags": members,
                "total": " + ".join(money(c, cur) for cur, c in sorted(totals.items())),
            }
        )
    at_stake: dict[str, int] = {}
    for flag in flags:
        currency = flag.currency or "unknown"
        at_stake[currency] = at_stake.get(currency, 0) + (flag.amount_cents or 0)
    read_age: timedelta | None = None
    if run is not None and run.stripe_read_at is not None:
        read_age = timezone.now() - run.stripe_read_at
    weeks = (run.summary.get("weeks") or []) if run is not None else []
    return {
        "active": "finance",
        "run": run,
        "groups": groups,
        "flag_count": len(flags),
        "at_stake": " + ".join(money(c, cur) for cur, c in sorted(at_stake.items())) or None,
        "stale": run is not None and STALE_STRIPE_READ in (run.run_flags or []),
        "read_age": read_age,
        "unavailable": run is not None
        and run.status == ReconciliationRun.Status.STRIPE_UNAVAILABLE,
        "partial": run is not None and run.status == ReconciliationRun.Status.PARTIAL,
        "summary": _week_lines(weeks),
        "can_reconcile": request.membership.has_role(Role.OPERATOR),
    }


@require_GET
@studio_view()
def finance(request: StudioRequest) -> HttpResponse:
    """Open reconciliation flags by class, their evidence, the week's figures, the last run."""
    context = _finance_context(request)
    if request.htmx:
        return render(request, "cockpit/finance.html#finance-body", context)
    return render(request, "cockpit/finance.html", context)


@require_POST
@studio_view(minimum=Role.OPERATOR)
def finance_reconcile(request: StudioRequest) -> HttpResponse:
    """Queue a reconciliation of the studio's mirror on the reads queue."""
    from brain.tasks import reconcile_studio

    studio = request.studio
    try:
        reconcile_studio.apply_async(args=(studio.pk,))
    except Exception as error:  # broker down: say so, change nothing
        log.error("finance.reconcile_not_queued", error=f"{type(error).__name__}: {error}")
        messages.error(
            request, "Could not queue the reconciliation: the job queue (Redis) is unreachable."
        )
    else:
        messages.info(
            request, "Reconciliation queued. Reload this page in a moment to see its result."
        )
    if request.htmx:
        return render(request, "cockpit/finance.html#finance-body", _finance_context(request))
    return redirect("cockpit:finance", studio=studio.slug)
