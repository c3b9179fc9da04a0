"""Cockpit → Policy: exemptions, agents and tokens, delegations, rate-limit counters, the
intake review queue and denial traces.

Each view parses input, calls one service or selector and renders. Every lookup is
studio-scoped (another studio's row is a 404). A form that fails re-renders the page with
its errors (422); a success redirects back to the section it concerns. Approving an
exemption and issuing or rotating a token need a recent sign-in (as high-risk approvals do).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.contrib import messages
from django.forms import Form
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from brain.config import format_duration
from brain.models import Role
from cockpit.access import StudioRequest, studio_view
from cockpit.forms.policy import (
    AgentCreateForm,
    CounterResetForm,
    DelegationCreateForm,
    IntakeDecisionForm,
    KillSwitchEngageForm,
    KillSwitchReleaseForm,
    ReasonForm,
    TokenIssueForm,
)
from cockpit.templatetags.cockpit_words import switch_name
from connectors.models import ConnectorConfig
from governance.actors import Actor
from governance.capabilities import CAPABILITIES
from governance.errors import Denied
from governance.models import (
    AgentClient,
    AgentSource,
    AgentToken,
    DecisionTrace,
    Exemption,
    ExemptionState,
    IntakeReview,
    KillSwitch,
)
from governance.policies.intake import load_policy
from governance.ratelimit import ENDPOINT_SETTINGS, Endpoint, RateLimitUnavailable, limiter_counters
from governance.reasons import ReasonCode, explain
from governance.reauth import ReauthForm, reauth_fresh
from governance.selectors.audit import denial_list
from governance.selectors.execution import kill_switch_list, kill_switch_state
from governance.selectors.policy import (
    DelegationRow,
    agent_get,
    agent_list,
    decision_get,
    delegation_get,
    delegation_list,
    exemption_get,
    exemption_list,
    exemption_state,
    intake_get,
    intake_queue,
)
from governance.services.agents import agent_create_local, token_issue, token_revoke, token_rotate
from governance.services.delegations import delegation_create_local, delegation_revoke_local
from governance.services.exemptions import exemption_approve, exemption_revoke
from governance.services.intake import intake_override
from governance.services.kill_switches import (
    kill_switch_engage,
    kill_switch_release_confirm,
    kill_switch_release_request,
)
from governance.services.ratelimits import rate_limit_reset

log = structlog.stdlib.get_logger("cockpit.policy")

RECENT_DECIDED_REVIEWS = 10
RECENT_DENIALS = 25
SECTIONS = ("kill-switches", "exemptions", "agents", "delegations", "limits", "intake", "denials")
STATE_ORDER = {
    ExemptionState.ACTIVE: 0,
    ExemptionState.PENDING: 1,
    ExemptionState.EXPIRED: 2,
    ExemptionState.REVOKED: 3,
}
ENDPOINT_LABELS = {
    Endpoint.PROPOSAL_CREATE: "Create proposal",
    Endpoint.EXECUTE: "Execute",
    Endpoint.INTAKE_OVERRIDE: "Intake override",
    Endpoint.MARKETING_REVIEW: "Marketing review",
}

Bound = dict[tuple[str, int], Form]


def _counters(studio_id: int) -> tuple[list[dict[str, Any]], str]:
    """The live counters with their limits, or an explanation when Redis cannot be reached."""
    try:
        counters = limiter_counters(studio_id)
    except RateLimitUnavailable as error:
        log.warning("policy.counters_unavailable", error=str(error))
        return (
            [],
            "The counter store (Redis) cannot be reached: counters cannot be shown, and calls that count against a limit are refused until it is back.",
        )
    rows = []
    for counter in counters:
        parts = counter.parts
        if parts["kind"] == "endpoint":
            endpoint = _endpoint(parts["endpoint"])
            limit = getattr(settings.BRAIN, ENDPOINT_SETTINGS[endpoint]) if endpoint else None
            what = ENDPOINT_LABELS[endpoint] if endpoint else parts["endpoint"]
            window = "per minute"
        else:
            spec = CAPABILITIES.get(parts["capability"])
            limit = spec.max_calls_per_hour if spec else None
            what = f"{parts['capability']} for {parts['owner']}"
            window = "per quota window"
        rows.append(
            {
                "key": counter.key,
                "kind": parts["kind"],
                "what": what,
                "actor": parts["actor"],
                "count": counter.count,
                "limit": limit,
                "full": limit is not None and counter.count >= limit,
                "window": window,
                "resets_in": counter.ttl_seconds,
                "reset_form": CounterResetForm(initial={"key": counter.key}),
            }
        )
    return rows, ""


def _endpoint(name: str) -> Endpoint | None:
    try:
        return Endpoint(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class SwitchRow:
    switch: KillSwitch
    release_form: Form
    mine: bool  # this staff member asked for the pending release


@dataclass(frozen=True)
class ExemptionRow:
    exemption: Exemption
    state: ExemptionState
    approve_form: Form
    revoke_form: Form


@dataclass(frozen=True)
class TokenRow:
    token: AgentToken
    live: bool
    rotate_form: Form
    revoke_form: Form


@dataclass(frozen=True)
class AgentRow:
    agent: AgentClient
    issue_form: Form
    tokens: list[TokenRow]


@dataclass(frozen=True)
class DelegationEntry:
    row: DelegationRow
    revoke_form: Form


@dataclass(frozen=True)
class TraceStep:
    step: DecisionTrace
    pretty_input: str


@dataclass(frozen=True)
class ReviewRow:
    review: IntakeReview
    decide_form: Form


def _asked_by(switch: KillSwitch, user_pk: int | None) -> bool:
    _engaged, asked = kill_switch_state(switch)
    return asked is not None and asked.user_id == user_pk


def _context(request: StudioRequest, bound: Bound | None = None) -> dict[str, Any]:
    studio = request.studio
    membership = request.membership
    bound = bound or {}
    is_admin = membership.has_role(Role.ADMIN)
    fresh = reauth_fresh(request)

    switches = [
        SwitchRow(
            switch=switch,
            release_form=bound.get(("kill-switch-release", switch.pk))
            or KillSwitchReleaseForm(needs_reauth=not fresh, auto_id=f"ks{switch.pk}_%s"),
            mine=_asked_by(switch, request.user.pk),
        )
        for switch in kill_switch_list(studio.pk)
    ]

    now = timezone.now()
    exemptions = [
        ExemptionRow(
            exemption=exemption,
            state=state,
            approve_form=bound.get(("exemption-approve", exemption.pk))
            or ReauthForm(needs_reauth=not fresh, auto_id=f"exa{exemption.pk}_%s"),
            revoke_form=bound.get(("exemption-revoke", exemption.pk))
            or ReasonForm(auto_id=f"exr{exemption.pk}_%s"),
        )
        for state, exemption in sorted(
            ((exemption_state(e, now), e) for e in exemption_list(studio.pk)),
            key=lambda pair: (STATE_ORDER[pair[0]], -pair[1].created_at.timestamp()),
        )
    ]

    agent_rows = agent_list(studio.pk)
    agents = [
        AgentRow(
            agent=agent,
            issue_form=bound.get(("token-issue", agent.pk))
            or TokenIssueForm(needs_reauth=not fresh, auto_id=f"ti{agent.pk}_%s"),
            tokens=[
                TokenRow(
                    token=token,
                    live=token.revoked_at is None and token.expires_at > now,
                    rotate_form=bound.get(("token-rotate", token.pk))
                    or ReauthForm(needs_reauth=not fresh, auto_id=f"tr{token.pk}_%s"),
                    revoke_form=bound.get(("token-revoke", token.pk))
                    or ReasonForm(auto_id=f"tx{token.pk}_%s"),
                )
                for token in agent.tokens.all()
            ],
        )
        for agent in agent_rows
    ]

    delegations = [
        DelegationEntry(
            row=row,
            revoke_form=bound.get(("delegation-revoke", row.delegation.pk))
            or ReasonForm(auto_id=f"dr{row.delegation.pk}_%s"),
        )
        for row in delegation_list(studio.pk)
    ]
    local_agents = [
        (a.pk, f"{a.name} ({a.agent_id})")
        for a in agent_rows
        if a.source == AgentSource.LOCAL and a.is_active
    ]

    pending = [
        ReviewRow(
            review=review,
            decide_form=bound.get(("intake-decide", review.pk))
            or IntakeDecisionForm(auto_id=f"ir{review.pk}_%s"),
        )
        for review in intake_queue(studio.pk)
    ]
    decided = list(
        intake_queue(studio.pk, status="").exclude(status="pending")[:RECENT_DECIDED_REVIEWS]
    )

    counters, counters_error = _counters(studio.pk)
    policy = load_policy()
    return {
        "active": "policy",
        "is_admin": is_admin,
        "can_review": membership.has_role(Role.APPROVER),
        "reauth_fresh": fresh,
        "can_engage": membership.has_role(Role.OPERATOR),
        "kill_switches": switches,
        "kill_switch_form": bound.get(("kill-switch-engage", 0)) or _engage_form(studio),
        "exemptions": exemptions,
        "exemption_max_days": settings.BRAIN.exemption_max_days,
        "agents": agents,
        "agent_form": bound.get(("agent-create", 0))
        or AgentCreateForm(studio_id=studio.pk, auto_id="ac_%s"),
        "delegations": delegations,
        "delegation_form": bound.get(("delegation-create", 0))
        or DelegationCreateForm(agents=local_agents, auto_id="dc_%s"),
        "has_local_agents": bool(local_agents),
        "counters": counters,
        "counters_error": counters_error,
        "endpoint_limits": [
            (ENDPOINT_LABELS[endpoint], getattr(settings.BRAIN, attr))
            for endpoint, attr in ENDPOINT_SETTINGS.items()
        ],
        "quota_window": format_duration(settings.BRAIN.quota_window.total_seconds()),
        "pending_reviews": pending,
        "decided_reviews": decided,
        "intake_policy": policy,
        "denials": denial_list(studio.pk, limit=RECENT_DENIALS),
    }


@require_GET
@studio_view()
@never_cache
def policy(request: StudioRequest) -> HttpResponse:
    context = _context(request)
    if request.htmx:
        return render(request, "cockpit/policy.html#limits", context)
    return render(request, "cockpit/policy.html", context)


@require_GET
@studio_view()
def policy_counters(request: StudioRequest) -> HttpResponse:
    """The counters fragment (refreshed by htmx); without htmx, the page at that section."""
    studio = request.studio
    if not request.htmx:
        return redirect(f"{reverse('cockpit:policy', args=[studio.slug])}#limits")
    counters, error = _counters(studio.pk)
    context = {
        "counters": counters,
        "counters_error": error,
        "is_admin": request.membership.has_role(Role.ADMIN),
    }
    return render(request, "cockpit/policy.html#counter-rows", context)


def _back(request: StudioRequest, section: str) -> HttpResponse:
    studio = request.studio
    return redirect(f"{reverse('cockpit:policy', args=[studio.slug])}#{section}")


def _failed(request: StudioRequest, key: tuple[str, int], form: Form) -> HttpResponse:
    return render(request, "cockpit/policy.html", _context(request, {key: form}), status=422)


def _act(
    request: StudioRequest,
    key: tuple[str, int],
    form: Form,
    section: str,
    action: Callable[[dict[str, Any]], str],
) -> HttpResponse:
    """Validate ``form``, run ``action`` (a service call returning the success message),
    and redirect; a form error or a denial re-renders the page with the error in place."""
    if form.is_valid():
        if isinstance(form, ReauthForm):
            form.reauthenticated()
        try:
            message = action(form.cleaned_data)
        except Denied as denial:
            field = next((f for f in denial.field_errors if f in form.fields), None)
            form.add_error(field, f"{denial.message} ({denial.code})")
        else:
            messages.success(request, message)
            return _back(request, section)
    return _failed(request, key, form)


def _staff(request: StudioRequest) -> Actor:
    return Actor.staff(request.user)


@require_POST
@studio_view(minimum=Role.ADMIN)
def exemption_approve_view(request: StudioRequest, exemption_id: int) -> HttpResponse:
    studio = request.studio
    form = ReauthForm(
        request.POST,
        needs_reauth=not reauth_fresh(request),
        request=request,
        auto_id=f"exa{exemption_id}_%s",
    )
    _exemption_or_404(request, exemption_id)

    def approve(_: dict[str, Any]) -> str:
        exemption_approve(studio=studio, exemption_id=exemption_id, actor=_staff(request))
        return f"Exemption #{exemption_id} approved: it is active until its expiry."

    return _act(request, ("exemption-approve", exemption_id), form, "exemptions", approve)


@require_POST
@studio_view(minimum=Role.ADMIN)
def exemption_revoke_view(request: StudioRequest, exemption_id: int) -> HttpResponse:
    studio = request.studio
    form = ReasonForm(request.POST, auto_id=f"exr{exemption_id}_%s")
    _exemption_or_404(request, exemption_id)

    def revoke(data: dict[str, Any]) -> str:
        exemption_revoke(
            studio=studio, exemption_id=exemption_id, actor=_staff(request), reason=data["reason"]
        )
        return f"Exemption #{exemption_id} revoked; its history stays."

    return _act(request, ("exemption-revoke", exemption_id), form, "exemptions", revoke)


def _exemption_or_404(request: StudioRequest, exemption_id: int) -> None:
    if exemption_get(request.studio.pk, exemption_id) is None:
        raise Http404("No such exemption.")


@require_POST
@studio_view(minimum=Role.ADMIN)
def agent_create_view(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    form = AgentCreateForm(request.POST, studio_id=studio.pk, auto_id="ac_%s")

    def create(data: dict[str, Any]) -> str:
        agent = agent_create_local(
            studio=studio, name=data["name"], owner_id=data["owner_id"], actor=_staff(request)
        )
        return f"Agent {agent.name} created as {agent.agent_id}. Issue it a token and a delegation."

    return _act(request, ("agent-create", 0), form, "agents", create)


def _show_token(request: StudioRequest, token: AgentToken, text: str, verb: str) -> HttpResponse:
    """The one and only time the clear token is shown. Never cached, never logged."""
    response = render(
        request,
        "cockpit/policy_token.html",
        {"active": "policy", "token": token, "token_text": text, "verb": verb},
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@studio_view(minimum=Role.ADMIN)
@never_cache
def token_issue_view(request: StudioRequest, agent_pk: int) -> HttpResponse:
    studio = request.studio
    if agent_get(studio.pk, agent_pk) is None:
        raise Http404("No such agent.")
    form = TokenIssueForm(
        request.POST,
        needs_reauth=not reauth_fresh(request),
        request=request,
        auto_id=f"ti{agent_pk}_%s",
    )
    if form.is_valid():
        form.reauthenticated()
        try:
            token, text = token_issue(
                studio=studio,
                agent_pk=agent_pk,
                actor=_staff(request),
                ttl=timedelta(days=form.cleaned_data["expires_in_days"]),
            )
        except Denied as denial:
            form.add_error(None, f"{denial.message} ({denial.code})")
        else:
            return _show_token(request, token, text, "issued")
    return _failed(request, ("token-issue", agent_pk), form)


def _token_or_404(request: StudioRequest, token_pk: int) -> AgentToken:
    studio = request.studio
    token = (
        AgentToken.objects.filter(pk=token_pk, agent__studio=studio).select_related("agent").first()
    )
    if token is None:
        raise Http404("No such token.")
    return token


@require_POST
@studio_view(minimum=Role.ADMIN)
@never_cache
def token_rotate_view(request: StudioRequest, token_pk: int) -> HttpResponse:
    studio = request.studio
    _token_or_404(request, token_pk)
    form = ReauthForm(
        request.POST,
        needs_reauth=not reauth_fresh(request),
        request=request,
        auto_id=f"tr{token_pk}_%s",
    )
    if form.is_valid():
        form.reauthenticated()
        try:
            token, text = token_rotate(studio=studio, token_pk=token_pk, actor=_staff(request))
        except Denied as denial:
            form.add_error(None, f"{denial.message} ({denial.code})")
        else:
            return _show_token(request, token, text, "rotated")
    return _failed(request, ("token-rotate", token_pk), form)


@require_POST
@studio_view(minimum=Role.ADMIN)
def token_revoke_view(request: StudioRequest, token_pk: int) -> HttpResponse:
    studio = request.studio
    token = _token_or_404(request, token_pk)
    form = ReasonForm(request.POST, auto_id=f"tx{token_pk}_%s")

    def revoke(data: dict[str, Any]) -> str:
        token_revoke(studio=studio, token_pk=token_pk, actor=_staff(request), reason=data["reason"])
        return f"Token sbk_{token.prefix}_… of {token.agent.name} revoked."

    return _act(request, ("token-revoke", token_pk), form, "agents", revoke)


@require_POST
@studio_view(minimum=Role.ADMIN)
def delegation_create_view(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    agents = [
        (a.pk, a.name)
        for a in agent_list(studio.pk)
        if a.source == AgentSource.LOCAL and a.is_active
    ]
    form = DelegationCreateForm(request.POST, agents=agents, auto_id="dc_%s")

    def create(data: dict[str, Any]) -> str:
        delegation = delegation_create_local(
            studio=studio,
            agent_pk=data["agent"],
            scopes=data["scopes"],
            expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
            actor=_staff(request),
        )
        return f"Delegation #{delegation.pk} to {delegation.agent_id} given, on your behalf."

    return _act(request, ("delegation-create", 0), form, "delegations", create)


@require_POST
@studio_view(minimum=Role.ADMIN)
def delegation_revoke_view(request: StudioRequest, delegation_id: int) -> HttpResponse:
    studio = request.studio
    if delegation_get(studio.pk, delegation_id) is None:
        raise Http404("No such delegation.")
    form = ReasonForm(request.POST, auto_id=f"dr{delegation_id}_%s")

    def revoke(data: dict[str, Any]) -> str:
        delegation_revoke_local(
            studio=studio, delegation_id=delegation_id, actor=_staff(request), reason=data["reason"]
        )
        return f"Delegation #{delegation_id} revoked here; no cloud refresh can undo it."

    return _act(request, ("delegation-revoke", delegation_id), form, "delegations", revoke)


@require_POST
@studio_view(minimum=Role.ADMIN)
def counter_reset_view(request: StudioRequest) -> HttpResponse:
    studio = request.studio
    form = CounterResetForm(request.POST)
    if form.is_valid():
        try:
            existed = rate_limit_reset(
                studio=studio, key=form.cleaned_data["key"], actor=_staff(request)
            )
        except Denied as denial:
            messages.error(request, f"Counter not reset: {denial.message} ({denial.code})")
        else:
            messages.success(
                request, "Counter reset." if existed else "That counter had already emptied."
            )
    else:
        messages.error(request, "Counter not reset: no counter was named.")
    if request.htmx:
        counters, error = _counters(studio.pk)
        return render(
            request,
            "cockpit/policy.html#counter-rows",
            {"counters": counters, "counters_error": error, "is_admin": True},
        )
    return _back(request, "limits")


@require_POST
@studio_view(minimum=Role.APPROVER)
def intake_decide_view(request: StudioRequest, review_id: int) -> HttpResponse:
    studio = request.studio
    if intake_get(studio.pk, review_id) is None:
        raise Http404("No such intake review.")
    form = IntakeDecisionForm(request.POST, auto_id=f"ir{review_id}_%s")

    def decide(data: dict[str, Any]) -> str:
        review = intake_override(
            studio=studio,
            review_id=review_id,
            actor=_staff(request),
            reason_code=data["reason_code"],
            rationale=data["rationale"],
        )
        if review.proposal_id:
            return f"Intake #{review_id} let through: it is now proposal #{review.proposal_id}, waiting for approval."
        return f"Intake #{review_id} kept blocked ({review.reason_code})."

    return _act(request, ("intake-decide", review_id), form, "intake", decide)


@require_GET
@studio_view()
def decision_trace(request: StudioRequest, decision_id: int) -> HttpResponse:
    """One decision, each of its checks in plain language, with the input each one saw."""
    decision = decision_get(request.studio.pk, decision_id)
    if decision is None:
        raise Http404("No such decision.")
    steps = [
        TraceStep(
            step=step,
            pretty_input=json.dumps(step.input, indent=2, sort_keys=True, ensure_ascii=False),
        )
        for step in decision.trace.all()
    ]
    try:
        explanation = explain(ReasonCode(decision.code))
    except ValueError:
        explanation = decision.message
    context = {
        "active": "policy",
        "decision": decision,
        "steps": steps,
        "explanation": explanation,
        "failed": next((s.step for s in steps if s.step.passed is False), None),
    }
    return render(request, "cockpit/policy_decision.html", context)


def _studio_connectors(studio: Any) -> list[tuple[int, str]]:
    return list(
        ConnectorConfig.objects.filter(studio=studio).order_by("name").values_list("pk", "name")
    )


def _engage_form(studio: Any, data: Any = None) -> KillSwitchEngageForm:
    return KillSwitchEngageForm(
        data,
        studio_label=studio.name,
        connectors=_studio_connectors(studio),
        auto_id="ke_%s",
    )


@require_POST
@studio_view(minimum=Role.OPERATOR)
def kill_switch_engage_view(request: StudioRequest) -> HttpResponse:
    """Stopping is immediate and needs no re-authentication: it is always the safe move."""
    studio = request.studio
    form = _engage_form(studio, request.POST)

    def engage(data: dict[str, Any]) -> str:
        kind, _, value = data["target"].partition(":")
        target: dict[str, Any] = {}
        if kind == "studio":
            target = {"studio": studio}
        elif kind == "capability":
            target = {"capability_id": value}
        elif kind == "connector":
            connector = ConnectorConfig.objects.filter(studio=studio, pk=int(value)).first()
            if connector is None:
                raise Http404("No such connector.")
            target = {"connector": connector}
        switch = kill_switch_engage(actor=_staff(request), reason=data["reason"], **target)
        return f"The {switch_name(switch)} kill switch is on: executions it covers are stopped."

    return _act(request, ("kill-switch-engage", 0), form, "kill-switches", engage)


def _switch_or_404(request: StudioRequest, switch_id: int) -> KillSwitch:
    """A runtime-wide switch or one of this studio's; another studio's is a 404."""
    studio = request.studio
    switch = KillSwitch.objects.filter(pk=switch_id).first()
    if switch is None or switch.studio_id not in (None, studio.pk):
        raise Http404("No such kill switch.")
    return switch


@require_POST
@studio_view(minimum=Role.ADMIN)
def kill_switch_release_view(request: StudioRequest, switch_id: int, step: str) -> HttpResponse:
    """``step`` "request" (a first admin) or "confirm" (a second one); both re-authenticate."""
    if step not in ("request", "confirm"):
        raise Http404("No such step.")
    switch = _switch_or_404(request, switch_id)
    form = KillSwitchReleaseForm(
        request.POST,
        needs_reauth=not reauth_fresh(request),
        request=request,
        auto_id=f"ks{switch_id}_%s",
    )

    def release(data: dict[str, Any]) -> str:
        if step == "confirm":
            kill_switch_release_confirm(actor=_staff(request), reason=data["reason"], switch=switch)
            return f"The {switch_name(switch)} kill switch is released: executions may run again."
        kill_switch_release_request(actor=_staff(request), reason=data["reason"], switch=switch)
        return (
            f"Release of the {switch_name(switch)} kill switch requested; "
            "a second admin confirms it."
        )

    return _act(request, ("kill-switch-release", switch_id), form, "kill-switches", release)
