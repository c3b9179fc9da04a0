"""Cockpit → Proposals: the queue, a proposal's detail, decisions, execution (new proposals:
``cockpit.views.proposal_new``).

Each view parses input, calls one selector or service, and renders; a request from htmx
gets the page's fragment (``page.html#fragment``). Lookups are studio-scoped: another
studio's proposal is a 404, exactly like a missing one.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from brain.models import Role
from cockpit.access import StudioRequest, studio_view
from cockpit.forms.proposals import DecisionForm, ProposalFilterForm
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
    approval_is_fresh,
    approval_list,
    canonical_input_text,
    proposal_get,
    proposal_list,
    proposal_requesters,
)
from governance.services.approvals import approval_grant, approval_reject
from governance.services.execution import proposal_execute
from governance.write_paths import rollback_offer

QUEUE_PAGE_SIZE = 25


@require_GET
@studio_view()
def proposal_queue(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    form = ProposalFilterForm(request.GET, requesters=proposal_requesters(studio.pk))
    # The queue shows summaries: the inputs and effects stay in the database until the detail page.
    proposals = proposal_list(studio.pk, form.filters()).defer(
        "input", "expected_effects", "dry_run", "rationale"
    )
    paginator = Paginator(proposals, QUEUE_PAGE_SIZE)
    page = paginator.get_page(page_number(request))
    context = {
        "active": "proposals",
        "form": form,
        "page": page,
        "query": query_without_page(request),
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "sort", "status")),
    }
    if request.htmx:
        return render(request, "cockpit/proposals.html#queue", context)
    return render(request, "cockpit/proposals.html", context)


def _needs_reauth(request: StudioRequest, proposal: Proposal) -> bool:
    """Sudo mode: approving high or critical risk needs a recently proved password."""
    return proposal.risk >= Risk.HIGH and not reauth_fresh(request)


def _detail_context(request: StudioRequest, proposal: Proposal, **forms: Any) -> dict[str, Any]:
    approvals = approval_list(proposal)
    current = [a for a in approvals if a.decision_round == proposal.decision_round]
    can_decide = request.membership.has_role(Role.APPROVER)
    needs_reauth = _needs_reauth(request, proposal)
    return {
        "active": "proposals",
        "proposal": proposal,
        "spec": CAPABILITIES.get(proposal.capability_id),
        "approvals": approvals,
        "granted_count": sum(1 for a in current if a.decision == Decision.GRANTED),
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
        **_execution_context(request, proposal, forms.get("execute_denial")),
        "can_decide": can_decide,
        "is_pending": proposal.status == "pending_approval",
        "approve_form": forms.get("approve_form")
        or DecisionForm(needs_reauth=needs_reauth, auto_id="approve_%s"),
        "reject_form": forms.get("reject_form") or DecisionForm(auto_id="reject_%s"),
    }


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
    return {
        "execution": execution,
        "can_execute": can_execute,
        "execute_denial": denial,
        "show_execute": can_execute
        and execution is None
        and proposal.status == ProposalStatus.APPROVED,
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
            form.add_error(field, f"{denial.message} ({denial.code})")
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
        context = {"proposal": proposal, **_execution_context(request, proposal, denial)}
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
        # The page's audit trail and status badge change with the outcome: sent out of band.
        context.update(_audit_trail_context(proposal))
    response = render(request, "cockpit/proposals_detail.html#execution", context)
    if finished:
        return HttpResponseStopPolling(response.content)
    return response
