"""Cockpit → Proposals and Cockpit → Audit.

Each view parses input, calls one selector or service, and renders; a request from htmx
gets the page's fragment (``page.html#fragment``). Lookups are studio-scoped: another
studio's proposal is a 404, exactly like a missing one.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from brain.models import Role
from cockpit.access import studio_view
from cockpit.governance_forms import AuditFilterForm, DecisionForm, ProposalFilterForm
from governance.actors import Actor
from governance.audit import verify_chain, verify_events
from governance.auth_events import session_authenticated_within, session_reauthenticated
from governance.capabilities import CAPABILITIES
from governance.enums import Decision, Risk
from governance.errors import Denied
from governance.models import Proposal
from governance.selectors import (
    approval_is_fresh,
    approval_list,
    audit_event_list,
    canonical_input_text,
    label_actors,
    proposal_audit_events,
    proposal_get,
    proposal_list,
    proposal_requesters,
)
from governance.services.approvals import approval_grant, approval_reject

QUEUE_PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
# "Sudo mode": approving high or critical risk needs a password proved this recently.
REAUTH_WINDOW = timedelta(minutes=10)


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
@studio_view()
def proposal_queue(request: HttpRequest) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    form = ProposalFilterForm(request.GET, requesters=proposal_requesters(studio.pk))
    # The queue shows summaries: the inputs and effects stay in the database until the detail page.
    proposals = proposal_list(studio.pk, form.filters()).defer(
        "input", "expected_effects", "dry_run", "rationale"
    )
    paginator = Paginator(proposals, QUEUE_PAGE_SIZE)
    page = paginator.get_page(_page_number(request))
    context = {
        "active": "proposals",
        "form": form,
        "page": page,
        "query": _query_without_page(request),
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "sort", "status")),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cockpit/proposals.html#queue", context)
    return render(request, "cockpit/proposals.html", context)


def _needs_reauth(request: HttpRequest, proposal: Proposal) -> bool:
    return proposal.risk >= Risk.HIGH and not session_authenticated_within(request, REAUTH_WINDOW)


def _detail_context(request: HttpRequest, proposal: Proposal, **forms: Any) -> dict[str, Any]:
    approvals = approval_list(proposal)
    events = proposal_audit_events(proposal)
    label_actors(events)
    current = [a for a in approvals if a.decision_round == proposal.decision_round]
    can_decide = request.membership.has_role(Role.APPROVER)  # type: ignore[attr-defined]
    needs_reauth = _needs_reauth(request, proposal)
    return {
        "active": "proposals",
        "proposal": proposal,
        "spec": CAPABILITIES.get(proposal.capability_id),
        "approvals": approvals,
        "granted_count": sum(1 for a in current if a.decision == Decision.GRANTED),
        "events": events,
        "chain_report": verify_events(events),
        "canonical_input": canonical_input_text(proposal),
        "pretty_input": json.dumps(proposal.input, indent=2, sort_keys=True),
        "pretty_dry_run": json.dumps(proposal.dry_run, indent=2, sort_keys=True)
        if proposal.dry_run
        else "",
        "approval_fresh": approval_is_fresh(proposal),
        "can_decide": can_decide,
        "is_pending": proposal.status == "pending_approval",
        "approve_form": forms.get("approve_form")
        or DecisionForm(needs_reauth=needs_reauth, auto_id="approve_%s"),
        "reject_form": forms.get("reject_form") or DecisionForm(auto_id="reject_%s"),
    }


def _proposal_or_404(request: HttpRequest, proposal_id: int) -> Proposal:
    proposal = proposal_get(request.studio.pk, proposal_id)  # type: ignore[attr-defined]
    if proposal is None:
        raise Http404("No such proposal.")
    return proposal


@require_GET
@studio_view()
def proposal_detail(request: HttpRequest, proposal_id: int) -> HttpResponse:
    proposal = _proposal_or_404(request, proposal_id)
    context = _detail_context(request, proposal)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cockpit/proposals_detail.html#decision", context)
    return render(request, "cockpit/proposals_detail.html", context)


def _decide(request: HttpRequest, proposal_id: int, decision: str) -> HttpResponse:
    proposal = _proposal_or_404(request, proposal_id)
    approving = decision == "approve"
    needs_reauth = approving and _needs_reauth(request, proposal)
    prefix = "approve_%s" if approving else "reject_%s"
    form = DecisionForm(request.POST, needs_reauth=needs_reauth, request=request, auto_id=prefix)
    if form.is_valid():
        if needs_reauth:
            session_reauthenticated(request)
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
            if request.htmx:  # type: ignore[attr-defined]
                return HttpResponseClientRedirect(url)
            return redirect(url)
    proposal.refresh_from_db()
    context = _detail_context(request, proposal, **{f"{decision}_form": form})
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cockpit/proposals_detail.html#decision", context)
    return render(request, "cockpit/proposals_detail.html", context, status=422)


@require_POST
@studio_view(minimum=Role.APPROVER)
def proposal_approve(request: HttpRequest, proposal_id: int) -> HttpResponse:
    return _decide(request, proposal_id, "approve")


@require_POST
@studio_view(minimum=Role.APPROVER)
def proposal_reject(request: HttpRequest, proposal_id: int) -> HttpResponse:
    return _decide(request, proposal_id, "reject")


@require_GET
@studio_view()
def audit_timeline(request: HttpRequest) -> HttpResponse:
    studio = request.studio  # type: ignore[attr-defined]
    form = AuditFilterForm(request.GET)
    paginator = Paginator(
        audit_event_list(studio.pk, form.filters(studio.timezone)), AUDIT_PAGE_SIZE
    )
    page = paginator.get_page(_page_number(request))
    label_actors(page.object_list)
    context = {
        "active": "audit",
        "form": form,
        "page": page,
        "query": _query_without_page(request),
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "verify")),
        # Without JavaScript the chain is verified inline when asked for (?verify=1).
        "report": verify_chain(studio.pk) if request.GET.get("verify") == "1" else None,
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cockpit/audit.html#timeline", context)
    return render(request, "cockpit/audit.html", context)


@require_GET
@studio_view()
def audit_chain_status(request: HttpRequest) -> HttpResponse:
    """Walk the studio's whole chain now (the audit page loads this after it renders)."""
    studio = request.studio  # type: ignore[attr-defined]
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(f"{reverse('cockpit:audit', args=[studio.slug])}?verify=1")
    return render(request, "cockpit/audit.html#chain-status", {"report": verify_chain(studio.pk)})
