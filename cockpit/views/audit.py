"""Cockpit → Audit: the studio's timeline, filtered, and the chain's verification."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from cockpit.access import StudioRequest, studio_view
from cockpit.forms.audit import AuditFilterForm
from cockpit.views.paging import page_number, query_without_page
from governance.audit import verify_chain
from governance.selectors.audit import audit_event_list, label_actors

AUDIT_PAGE_SIZE = 50


@require_GET
@studio_view()
def audit_timeline(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    form = AuditFilterForm(request.GET)
    paginator = Paginator(
        audit_event_list(studio.pk, form.filters(studio.timezone)), AUDIT_PAGE_SIZE
    )
    page = paginator.get_page(page_number(request))
    label_actors(page.object_list)
    context = {
        "active": "audit",
        "form": form,
        "page": page,
        "query": query_without_page(request),
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "verify")),
        # Without JavaScript the chain is verified inline when asked for (?verify=1).
        "report": verify_chain(studio.pk) if request.GET.get("verify") == "1" else None,
    }
    if request.htmx:
        return render(request, "cockpit/audit.html#timeline", context)
    return render(request, "cockpit/audit.html", context)


@require_GET
@studio_view()
def audit_chain_status(request: StudioRequest) -> HttpResponse:
    """Walk the studio's whole chain now (the audit page loads this after it renders)."""
    studio = request.studio
    if not request.htmx:
        return redirect(f"{reverse('cockpit:audit', args=[studio.slug])}?verify=1")
    return render(request, "cockpit/audit.html#chain-status", {"report": verify_chain(studio.pk)})
