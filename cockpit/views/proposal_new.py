"""Cockpit → Proposals → New proposal: choose a capability, fill in its input as a form.

Step 1 lists the capabilities the member's role may propose, by area. Step 2 is the
capability's input model as form fields (``cockpit.forms.capability_input``) with a JSON
preview of exactly what will be submitted: re-rendered by htmx as staff type, and rendered
by the server on "Preview" or a refused submission without JavaScript. ``?rollback_of=ID``
and ``?flag=ID`` pre-fill the form. The lookup endpoint answers the batch, order and note
fields' ``<datalist>`` (HTML options for htmx, JSON with ``?format=json``).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect
from pydantic import ValidationError

from brain.models import Role
from cockpit.access import StudioRequest, studio_view
from cockpit.finance import finance_adjust_initial
from cockpit.forms.capability_input import CapabilityInputForm, lookup_choices
from cockpit.forms.proposals import ProposalForm, proposable_capabilities
from governance.actors import Actor
from governance.capabilities import CAPABILITIES, CapabilitySpec
from governance.errors import Denied
from governance.models import Proposal
from governance.selectors.execution import proposal_execution
from governance.selectors.proposals import proposal_get
from governance.services.proposals import proposal_submit
from governance.targets import target_problems
from governance.write_paths import rollback_offer

TEMPLATE = "cockpit/proposals_new.html"


def _prefill(request: StudioRequest) -> tuple[Proposal | None, dict[str, Any]]:
    """The rollback or flag a new proposal starts from (404 when there is none of this studio)."""
    source_id = request.GET.get("rollback_of") or request.POST.get("rollback_of")
    if source_id and source_id.isdigit():
        rollback_of = proposal_get(request.studio.pk, int(source_id))
        if rollback_of is None:
            raise Http404("No such proposal.")
        offer = rollback_offer(rollback_of, proposal_execution(rollback_of))
        if offer is None:
            raise Http404("That proposal has nothing to roll back.")
        return rollback_of, {
            "capability": offer.capability_id,
            "input": json.dumps(offer.input, indent=2, sort_keys=True),
            "rationale": offer.rationale,
        }
    flag_id = request.GET.get("flag")
    if flag_id and flag_id.isdigit():
        return None, finance_adjust_initial(request.studio, int(flag_id))
    return None, {}


def _input_initial(initial: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(initial.get("input") or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _preview(spec: CapabilitySpec, proposed: dict[str, Any], studio_id: int) -> dict[str, Any]:
    """What the preview panel shows: the JSON, the summary when the schema accepts it, and
    what the studio does not have (the same target check the submission runs, read-only)."""
    preview: dict[str, Any] = {"json": json.dumps(proposed, indent=2, sort_keys=True)}
    try:
        parsed = spec.input_model.model_validate(proposed)
    except ValidationError as error:
        preview["problems"] = len(error.errors())
    else:
        preview["summary"] = parsed.summary()
        preview["effects"] = parsed.expected_effects()
        preview["missing"] = list(target_problems(spec.id, parsed, studio_id=studio_id).values())
    return preview


def _context(request: StudioRequest, **extra: Any) -> dict[str, Any]:
    is_admin = request.membership.has_role(Role.ADMIN)
    return {
        "active": "proposals",
        "areas": proposable_capabilities(request.membership),
        "is_admin": is_admin,
        **extra,
    }


def _render(request: StudioRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    if request.htmx:
        return render(request, f"{TEMPLATE}#proposal-form", context, status=status)
    return render(request, TEMPLATE, context, status=status)


@require_http_methods(["GET", "POST"])
@studio_view(minimum=Role.OPERATOR)
def proposal_new(request: StudioRequest) -> HttpResponse:
    """Step 1 without ``?capability=``; step 2 with it (or pre-filled); POST submits."""
    studio = request.studio
    rollback_of, initial = _prefill(request)
    allowed = {
        spec.id for _, specs in proposable_capabilities(request.membership) for spec in specs
    }
    posted = request.method == "POST"
    source = request.POST if posted else request.GET
    capability_id = source.get("capability") or initial.get("capability", "")
    if capability_id and capability_id not in allowed:
        capability_id = ""  # a capability this member may not propose: back to the choice
    if not capability_id:
        return _render(request, _context(request, form=None, rollback_of=rollback_of))

    spec = CAPABILITIES[capability_id]
    input_initial = _input_initial(initial)
    if not posted:
        # A GET carrying the fields (the connector select re-rendering the device choices)
        # pre-fills them without validating: nothing was submitted yet, so no errors show.
        input_initial.update(
            {key[3:]: value for key, value in request.GET.items() if key.startswith("in-")}
        )
        if request.GET.get("rationale"):
            initial = {**initial, "rationale": request.GET["rationale"]}
    form = ProposalForm(
        request.POST if posted else None,
        initial={**initial, "capability": capability_id},
        capabilities=sorted(allowed),
    )
    input_form = CapabilityInputForm(
        spec, studio.pk, data=request.POST if posted else None, initial=input_initial
    )
    unplaced: list[str] = []
    if posted and "preview" not in request.POST:
        form_ok = form.is_valid()
        raw = form.cleaned_data.get("input") if form_ok else None
        # Raw JSON (the admins' advanced disclosure) replaces the generated fields.
        fields_ok = input_form.is_valid() if raw is None else True
        if form_ok and fields_ok:
            try:
                proposal = proposal_submit(
                    studio=studio,
                    capability_id=capability_id,
                    input=raw if raw is not None else input_form.proposed_input(),
                    rationale=form.cleaned_data["rationale"],
                    actor=Actor.staff(request.user),
                )
            except Denied as denial:
                errors = dict(denial.field_errors)
                rationale = errors.pop("rationale", None)
                if rationale:
                    form.add_error("rationale", rationale)
                if raw is not None:
                    for name, problems in errors.items():
                        form.add_error("input", [f"{name}: {p}" for p in problems])
                else:
                    unplaced = input_form.place_errors(errors)
                if not denial.field_errors:
                    unplaced.append(f"{denial.message} ({denial.code})")
            else:
                messages.success(request, f"Proposal #{proposal.pk} submitted for approval.")
                url = reverse("cockpit:proposal_detail", args=[studio.slug, proposal.pk])
                if request.htmx:
                    return HttpResponseClientRedirect(url)
                return redirect(url)
    proposed = form.raw_input() if posted and form.raw_input() is not None else None
    context = _context(
        request,
        form=form,
        input_form=input_form,
        spec=spec,
        rollback_of=rollback_of,
        unplaced=unplaced,
        preview=_preview(
            spec, proposed if proposed is not None else input_form.proposed_input(), studio.pk
        ),
    )
    status = 422 if posted and "preview" not in request.POST else 200
    return _render(request, context, status=status)


@require_GET
@studio_view(minimum=Role.OPERATOR)
def proposal_new_preview(request: StudioRequest) -> HttpResponse:
    """The JSON preview of the form's current values (htmx, on every change)."""
    capability_id = request.GET.get("capability", "")
    if not capability_id:  # nothing chosen yet: an empty preview, as step 2 starts
        return render(request, f"{TEMPLATE}#preview", {"preview": {"json": "{}"}})
    spec = CAPABILITIES.get(capability_id)
    if spec is None:
        raise Http404("No such capability.")
    input_form = CapabilityInputForm(spec, request.studio.pk, data=request.GET)
    preview = _preview(spec, input_form.proposed_input(), request.studio.pk)
    context = {"preview": preview, "spec": spec}
    return render(request, f"{TEMPLATE}#preview", context)


@require_GET
@studio_view(minimum=Role.OPERATOR)
def proposal_lookup(request: StudioRequest, kind: str) -> HttpResponse:
    """Ids of this studio's batches, orders or executed notes starting with ``?q=``.

    HTML ``<option>``s for a ``<datalist>`` (what htmx swaps in), or JSON
    ``{"results": [{"value", "label"}]}`` with ``?format=json``.
    """
    if kind not in ("batch", "order", "note"):
        return JsonResponse(
            {"code": "LOOKUP_UNKNOWN", "message": f"Nothing to look up as {kind!r}."}, status=404
        )
    query = str(request.GET.get("q", ""))
    if not query:  # the field's own name carries the value when htmx sends the input
        query = next((str(v) for k, v in request.GET.items() if k.startswith("in-")), "")
    choices = lookup_choices(request.studio.pk, kind, query[:128])
    if request.GET.get("format") == "json":
        return JsonResponse({"results": [{"value": c.value, "label": c.label} for c in choices]})
    return render(request, f"{TEMPLATE}#lookup-options", {"choices": choices})
