"""Cockpit → Proposals: the queue, a proposal's detail, decisions, execution (new proposals:
``cockpit.views.proposal_new``).

Each view parses input, calls one selector or service, and renders; a request from htmx
gets the page's fragment (``page.html#fragment``). Lookups are studio-scoped: another
studio's proposal is a 404, exactly like a missing one.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms as forms_module
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from brain.models import Role
from cockpit.access import StudioRequest, studio_view
from cockpit.forms.proposals import (
    SAVED_FILTERS,
    BulkDecisionForm,
    DecisionForm,
    ProposalFilterForm,
    ProposalIdsField,
    ReasonForm,
)
from cockpit.views.paging import page_number, query_without_page
from governance.actors import Actor
from governance.audit import verify_events
from governance.capabilities import CAPABILITIES
from governance.enums import Decision, ProposalStatus, Risk
from governance.errors import Denied
from governance.models import Execution, Proposal
from governance.reauth import reauth_fresh
from governance.selectors.audit import label_actors, proposal_audit_events
from governance.selectors.execution import proposal_execution
from governance.selectors.proposals import (
    DECIDER_ROLE,
    UNDECIDED_OR_APPROVED,
    DecisionPanel,
    ProposalFilters,
    approval_is_fresh,
    canonical_input_text,
    decision_panel,
    proposal_get,
    proposal_list,
    proposal_requesters,
)
from governance.services.approvals import approval_grant, approval_reject, approval_withdraw
from governance.services.bulk_review import (
    BULK_LIMIT,
    BulkOutcome,
    BulkVerb,
    approval_bulk_decide,
)
from governance.services.execution import execution_readiness, proposal_execute
from governance.services.proposals import proposal_cancel
from governance.write_paths import rollback_offer

QUEUE_PAGE_SIZE = 25


@require_GET
@studio_view()
def proposal_queue(request: StudioRequest) -> HttpResponse:
    context = _queue_context(request)
    if request.htmx:
        return render(request, "cockpit/proposals.html#queue", context)
    return render(request, "cockpit/proposals.html", context)


@require_POST
@studio_view(minimum=Role.APPROVER)
def proposal_bulk(request: StudioRequest) -> HttpResponse:
    """Approve or reject the ticked proposals with one rationale: each through the same
    service as a single decision, with its own checks and audit event; the queue comes back
    with what happened to each. The query string keeps the queue's filters."""
    studio = request.studio
    try:
        selected = ProposalIdsField(required=False).clean(request.POST.getlist("proposal"))
    except ValidationError:
        selected = []  # the form says what is wrong
    verb = request.POST.get("verb", "")
    form = BulkDecisionForm(
        request.POST,
        needs_reauth=verb == BulkVerb.APPROVE and _bulk_needs_reauth(request, selected),
        request=request,
        auto_id="bulk_%s",
    )
    outcomes = None
    if form.is_valid():
        form.reauthenticated()
        try:
            outcomes = approval_bulk_decide(
                studio_id=studio.pk,
                proposal_ids=form.cleaned_data["proposal"],
                actor=Actor.staff(request.user),
                rationale=form.cleaned_data["rationale"],
                verb=BulkVerb(form.cleaned_data["verb"]),
            )
        except Denied as denial:
            field = "rationale" if "rationale" in denial.field_errors else None
            form.add_error(field, denial.message)
    context = _queue_context(request, bulk_form=form, outcomes=outcomes, selected=selected)
    status = 200 if outcomes is not None else 422
    if request.htmx:
        # htmx swaps 2xx only: the fragment with the form's errors goes out as 200.
        return render(request, "cockpit/proposals.html#queue", context)
    return render(request, "cockpit/proposals.html", context, status=status)


def _bulk_needs_reauth(request: StudioRequest, selected: list[int]) -> bool:
    """The single approval's rule applied to what a bulk approval may approve: high and
    critical risk never are (BULK_NOT_ALLOWED), so today this asks only if the rule widens."""
    risks = (
        Proposal.objects.filter(studio_id=request.studio.pk, pk__in=selected, risk__lt=Risk.HIGH)
        .values_list("risk", flat=True)
        .distinct()
    )
    return any(_needs_reauth_for(request, risk) for risk in risks)


def _queue_context(
    request: StudioRequest,
    *,
    bulk_form: BulkDecisionForm | None = None,
    outcomes: list[BulkOutcome] | None = None,
    selected: list[int] | None = None,
) -> dict[str, Any]:
    studio = request.studio
    requesters = proposal_requesters(studio.pk)
    form = ProposalFilterForm(request.GET, requesters=requesters)
    filters = form.filters(user_id=request.user.pk, end_of_today=_end_of_today(studio.timezone))
    # The queue shows summaries: the inputs and effects stay in the database until the detail page.
    proposals = proposal_list(studio.pk, filters).defer(
        "input", "expected_effects", "dry_run", "rationale", "search_text"
    )
    per_page = BULK_LIMIT if request.GET.get("per") == str(BULK_LIMIT) else QUEUE_PAGE_SIZE
    page = Paginator(proposals, per_page).get_page(page_number(request))
    can_bulk = request.membership.has_role(DECIDER_ROLE)
    names = dict(requesters)
    page.object_list = list(page.object_list)
    requester_names = {
        proposal.pk: names.get(proposal.requester_label, proposal.requested_by_id)
        for proposal in page.object_list
    }
    on_page = [proposal.pk for proposal in page.object_list]
    if request.GET.get("select") == "all":
        ticked = set(on_page)
    else:
        ticked = set(selected or []) if outcomes is None else set()
    view = form.cleaned_data.get("view", "") if form.is_valid() else ""
    context: dict[str, Any] = {}
    if filters == ProposalFilters(sort=filters.sort):
        # The page counted the studio's pending proposals already: the badge reuses it.
        context["pending_proposals"] = page.paginator.count
    return context | {
        "active": "proposals",
        "form": form,
        "page": page,
        "query": query_without_page(request),
        "query_keep": _query_without(request, "page", "select"),
        "filtered": any(
            v
            for k, v in request.GET.items()
            if k not in ("page", "sort", "status", "per", "select")
        ),
        "saved_filters": _saved_filter_links(request, view),
        "requester_names": requester_names,
        "view": view,
        "can_bulk": can_bulk,
        "bulk_form": bulk_form or BulkDecisionForm(auto_id="bulk_%s"),
        "bulk_limit": BULK_LIMIT,
        "per_page": per_page,
        "ticked": ticked,
        "bulk_result": _bulk_result(studio.pk, outcomes) if outcomes is not None else None,
    }


def _end_of_today(zone: str) -> datetime:
    """Midnight at the end of today in the studio's timezone: "expiring today" ends there."""
    local = timezone.localtime(timezone.now(), ZoneInfo(zone))
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=local.tzinfo)


def _query_without(request: StudioRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _saved_filter_links(request: StudioRequest, current: str) -> list[dict[str, Any]]:
    """One link per saved filter: it replaces the filters (a search stays)."""
    base = reverse("cockpit:proposals", args=[request.studio.slug])
    search = request.GET.get("q", "")
    links: list[dict[str, Any]] = [
        {
            "key": "",
            "label": "All pending",
            "url": base + (f"?{urlencode({'q': search})}" if search else ""),
        }
    ]
    for key, label in SAVED_FILTERS.items():
        query = {"view": key, **({"q": search} if search else {})}
        links.append({"key": key, "label": label, "url": f"{base}?{urlencode(query)}"})
    for link in links:
        link["current"] = link["key"] == current
    return links


def _bulk_result(studio_id: int, outcomes: list[BulkOutcome]) -> dict[str, Any]:
    summaries = dict(
        Proposal.objects.filter(
            studio_id=studio_id, pk__in=[o.proposal_id for o in outcomes]
        ).values_list("pk", "summary")
    )
    rows = [
        {"outcome": outcome, "summary": summaries.get(outcome.proposal_id, "")}
        for outcome in outcomes
    ]
    decided = sum(1 for o in outcomes if o.decided)
    return {"rows": rows, "decided": decided, "denied": len(outcomes) - decided}


def _needs_reauth(request: StudioRequest, proposal: Proposal) -> bool:
    """Sudo mode: approving high or critical risk needs a recently proved password."""
    return _needs_reauth_for(request, proposal.risk)


def _needs_reauth_for(request: StudioRequest, risk: int) -> bool:
    return risk >= Risk.HIGH and not reauth_fresh(request)


def _detail_context(request: StudioRequest, proposal: Proposal, **forms: Any) -> dict[str, Any]:
    panel = decision_panel(proposal, request.user)
    execution = _execution_context(request, proposal, forms.get("execute_denial"))
    running = execution["execution"] is not None
    is_pending = proposal.status == ProposalStatus.PENDING_APPROVAL
    can_decide = request.membership.has_role(DECIDER_ROLE)
    # Bug 4: once you decided (and until you withdraw), the panel says so instead of
    # offering the forms again; the requester never gets them.
    show_forms = (
        is_pending
        and can_decide
        and not panel.is_requester
        and panel.my_decision in ("", Decision.WITHDRAWN)
    )
    needs_reauth = _needs_reauth(request, proposal)
    return {
        "active": "proposals",
        "proposal": proposal,
        "spec": CAPABILITIES.get(proposal.capability_id),
        "panel": panel,
        "approvals": panel.approvals,
        "granted_count": len(panel.granted),
        "my_state": _my_state(proposal, panel, can_decide),
        "panel_errors": [
            (error, getattr(form, "denial_code", ""))
            for form in forms.values()
            if isinstance(form, forms_module.Form)
            for error in form.non_field_errors()
        ],
        **_audit_trail_context(proposal),
        "canonical_input": canonical_input_text(proposal),
        "pretty_input": json.dumps(proposal.input, indent=2, sort_keys=True),
        "pretty_dry_run": json.dumps(proposal.dry_run, indent=2, sort_keys=True)
        if proposal.dry_run
        else "",
        "dry_rows": dry_run_rows(proposal.dry_run),
        "dry_documents": [
            {
                "path": f"{d.get('collection')}/{d.get('id')}",
                "write": d.get("write", ""),
                "fields": json.dumps(d.get("fields", {}), indent=2, sort_keys=True),
            }
            for d in proposal.dry_run.get("documents", [])
        ],
        "approval_fresh": approval_is_fresh(proposal),
        **execution,
        "can_decide": can_decide,
        "is_pending": is_pending,
        "show_forms": show_forms,
        "can_withdraw": panel.my_decision == Decision.GRANTED
        and proposal.status in UNDECIDED_OR_APPROVED
        and not running,
        "can_cancel": panel.is_requester
        and proposal.status in UNDECIDED_OR_APPROVED
        and not running,
        "approve_form": forms.get("approve_form")
        or DecisionForm(needs_reauth=needs_reauth, auto_id="approve_%s"),
        "reject_form": forms.get("reject_form") or DecisionForm(auto_id="reject_%s"),
        "withdraw_form": forms.get("withdraw_form") or ReasonForm(auto_id="withdraw_%s"),
        "cancel_form": forms.get("cancel_form") or ReasonForm(auto_id="cancel_%s"),
    }


def _my_state(proposal: Proposal, panel: DecisionPanel, can_decide: bool) -> str:
    """The viewer's own state in one line: "You approved · waiting for 1 more approver"."""
    left = panel.quorum_left
    waiting = (
        f"waiting for {left} more approver{'s' if left != 1 else ''} (role {DECIDER_ROLE.label})"
    )
    status = proposal.status
    if panel.my_decision == Decision.GRANTED:
        if status == ProposalStatus.PENDING_APPROVAL:
            return f"You approved · {waiting}"
        if status == ProposalStatus.APPROVED:
            return "You approved · quorum met, waiting for an operator to execute"
        return f"You approved · the proposal is {proposal.get_status_display()}"
    if panel.my_decision == Decision.REJECTED:
        return "You rejected this proposal"
    if panel.my_decision == Decision.WITHDRAWN:
        return "You withdrew your approval" + (
            " · you may decide again" if status == ProposalStatus.PENDING_APPROVAL else ""
        )
    if panel.is_requester:
        if status == ProposalStatus.PENDING_APPROVAL:
            return f"You proposed this · {waiting}; you cannot approve your own proposal"
        return "You proposed this"
    if status == ProposalStatus.PENDING_APPROVAL and can_decide:
        return f"Your decision is needed · {left} more approval{'s' if left != 1 else ''} to go"
    return ""


def dry_run_rows(dry_run: dict[str, Any]) -> list[dict[str, Any]]:
    """Current and expected state side by side, one row per field, changes marked."""
    current, expected = dry_run.get("current") or {}, dry_run.get("expected") or {}
    rows = []
    for name in sorted({*current, *expected}):
        now, after = _shown(current.get(name, "—")), _shown(expected.get(name, "—"))
        rows.append({"name": name, "now": now, "after": after, "changed": now != after})
    return rows


def _audit_trail_context(proposal: Proposal) -> dict[str, Any]:
    events = proposal_audit_events(proposal)
    label_actors(events)
    return {"events": events, "chain_report": verify_events(events)}


def _shown(value: Any) -> str:
    """A state value as text: strings as they are, everything else as JSON (true, 5, [..])."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _execution_context(
    request: StudioRequest, proposal: Proposal, denial: Denied | None = None
) -> dict[str, Any]:
    """What the execution panel shows: the button, the run in progress, or how it ended."""
    execution = proposal_execution(proposal)
    can_execute = request.membership.has_role(Role.OPERATOR)
    # Bug 5: the gateway's own checks say whether anything can run it; when not, the panel
    # shows that reason instead of an Execute button.
    blocker = None
    if execution is None and proposal.status in (
        ProposalStatus.PENDING_APPROVAL,
        ProposalStatus.APPROVED,
    ):
        blocker = execution_readiness(proposal)
    return {
        "execution": execution,
        "can_execute": can_execute,
        "execute_denial": denial,
        "execution_blocker": blocker,
        "show_execute": can_execute
        and execution is None
        and proposal.status == ProposalStatus.APPROVED
        and blocker is None,
        "rollback": rollback_offer(proposal, execution) if can_execute else None,
    }


def _proposal_or_404(request: StudioRequest, proposal_id: int) -> Proposal:
    proposal = proposal_get(request.studio.pk, proposal_id)
    if proposal is None:
        raise Http404("No such proposal.")
    return proposal


@require_GET
@studio_view()
def proposal_detail(request: StudioRequest, proposal_id: int) -> HttpResponse:
    proposal = _proposal_or_404(request, proposal_id)
    context = _detail_context(request, proposal)
    if request.htmx:
        return render(request, "cockpit/proposals_detail.html#decision", context)
    return render(request, "cockpit/proposals_detail.html", context)


def _decide(request: StudioRequest, proposal_id: int, decision: str) -> HttpResponse:
    proposal = _proposal_or_404(request, proposal_id)
    approving = decision == "approve"
    needs_reauth = approving and _needs_reauth(request, proposal)
    prefix = "approve_%s" if approving else "reject_%s"
    form = DecisionForm(request.POST, needs_reauth=needs_reauth, request=request, auto_id=prefix)
    if form.is_valid():
        form.reauthenticated()
        service = approval_grant if approving else approval_reject
        try:
            service(
                proposal_id=proposal.pk,
                actor=Actor.staff(request.user),
                rationale=form.cleaned_data["rationale"],
            )
        except Denied as denial:
            field = "rationale" if "rationale" in denial.field_errors else None
            form.add_error(field, denial.message)
            form.denial_code = str(denial.code)
        else:
            messages.success(
                request,
                f"Proposal #{proposal.pk} {'approved' if approving else 'rejected'}: "
                "your decision is recorded in the audit chain.",
            )
            url = reverse("cockpit:proposal_detail", args=[proposal.studio.slug, proposal.pk])
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
    proposal.refresh_from_db()
    context = _detail_context(request, proposal, **{f"{decision}_form": form})
    if request.htmx:
        return render(request, "cockpit/proposals_detail.html#decision", context)
    return render(request, "cockpit/proposals_detail.html", context, status=422)


@require_POST
@studio_view(minimum=Role.APPROVER)
def proposal_approve(request: StudioRequest, proposal_id: int) -> HttpResponse:
    return _decide(request, proposal_id, "approve")


@require_POST
@studio_view(minimum=Role.APPROVER)
def proposal_reject(request: StudioRequest, proposal_id: int) -> HttpResponse:
    return _decide(request, proposal_id, "reject")


def _reason_action(request: StudioRequest, proposal_id: int, verb: str, done: str) -> HttpResponse:
    """Withdraw or cancel: a reason, one service call, the panel again (or its error)."""
    proposal = _proposal_or_404(request, proposal_id)
    form = ReasonForm(request.POST, auto_id=f"{verb}_%s")
    if form.is_valid():
        actor = Actor.staff(request.user)
        why = form.cleaned_data["rationale"]
        try:
            if verb == "withdraw":
                approval_withdraw(proposal_id=proposal.pk, actor=actor, rationale=why)
            else:
                proposal_cancel(proposal_id=proposal.pk, actor=actor, reason=why)
        except Denied as denial:
            field = "rationale" if "rationale" in denial.field_errors else None
            form.add_error(field, denial.message)
            form.denial_code = str(denial.code)
        else:
            messages.success(request, f"Proposal #{proposal.pk}: {done}; it is in the audit chain.")
            url = reverse("cockpit:proposal_detail", args=[proposal.studio.slug, proposal.pk])
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
    proposal.refresh_from_db()
    context = _detail_context(request, proposal, **{f"{verb}_form": form})
    if request.htmx:
        return render(request, "cockpit/proposals_detail.html#decision", context)
    return render(request, "cockpit/proposals_detail.html", context, status=422)


@require_POST
@studio_view(minimum=Role.APPROVER)
def proposal_withdraw(request: StudioRequest, proposal_id: int) -> HttpResponse:
    return _reason_action(request, proposal_id, "withdraw", "your approval is withdrawn")


@require_POST
@studio_view()
def proposal_cancel_view(request: StudioRequest, proposal_id: int) -> HttpResponse:
    return _reason_action(request, proposal_id, "cancel", "cancelled")


@require_POST
@studio_view(minimum=Role.OPERATOR)
def proposal_execute_view(request: StudioRequest, proposal_id: int) -> HttpResponse:
    """The "Execute" button: the gateway decides; a denial is shown in the panel, in words."""
    proposal = _proposal_or_404(request, proposal_id)
    denial = None
    try:
        proposal_execute(
            proposal_id=proposal.pk,
            actor=Actor.staff(request.user),
            studio=request.studio,
        )
    except Denied as denied:
        denial = denied
    proposal.refresh_from_db()
    if request.htmx:
        # The panel, and after a denial the audit trail (the attempt is in the chain now),
        # follow out of band: withdraw and cancel are gone once a run is queued.
        context = _detail_context(request, proposal, execute_denial=denial)
        if denial is None:
            context["events"] = None
        return render(request, "cockpit/proposals_detail.html#execution", context)
    if denial is None:
        messages.success(request, f"Proposal #{proposal.pk} is executing.")
        return redirect("cockpit:proposal_detail", proposal.studio.slug, proposal.pk)
    context = _detail_context(request, proposal, execute_denial=denial)
    return render(request, "cockpit/proposals_detail.html", context, status=422)


@require_GET
@studio_view()
def proposal_execution_status(request: StudioRequest, proposal_id: int) -> HttpResponse:
    """The execution panel, polled while the run is queued or running; polling stops at the end."""
    proposal = _proposal_or_404(request, proposal_id)
    if not request.htmx:
        return redirect("cockpit:proposal_detail", proposal.studio.slug, proposal.pk)
    context = {"proposal": proposal, **_execution_context(request, proposal)}
    execution: Execution | None = context["execution"]
    finished = execution is None or execution.is_finished
    if finished:
        # The page's audit trail, status badge and decision panel change with the outcome:
        # sent out of band.
        proposal.refresh_from_db()
        context = _detail_context(request, proposal)
    response = render(request, "cockpit/proposals_detail.html#execution", context)
    if finished:
        return HttpResponseStopPolling(response.content)
    return response
