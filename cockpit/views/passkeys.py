"""Account → Passkeys: register (named), list and remove one's passkeys; an admin sets whether
the studio requires them. Also the two JSON endpoints ``static/cockpit/passkeys.js`` calls for
WebAuthn options (each issues a fresh single-use challenge in the session).

A passkey is the staff member's own, whichever studio the page is opened in; the page sits
under a studio so the shell (navigation, banners) and the studio's setting are at hand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from brain.models import Role
from cockpit.access import StudioRequest, studio_view
from cockpit.forms.passkeys import PasskeyRegisterForm, PasskeyRemoveForm, PasskeyRequirementForm
from governance.actors import Actor
from governance.auth_events import request_client, session_authenticated_within
from governance.errors import Denied
from governance.passkeys import REGISTER, challenge_take, registration_options, step_up_options
from governance.reauth import ReauthForm, reauth_fresh, reauth_window, step_up_forget
from governance.selectors.passkeys import passkey_get, passkey_list
from governance.services.passkeys import passkey_register, passkey_remove, studio_passkeys_require


def _user_id(request: StudioRequest) -> int:
    assert request.user.pk is not None  # studio_view signs in first
    return int(request.user.pk)


def _signed_in_recently(request: StudioRequest) -> bool:
    # Registering takes the password even where passkeys are required (see the form).
    return session_authenticated_within(request, reauth_window())


def _context(request: StudioRequest, **bound: ReauthForm) -> dict[str, Any]:
    studio = request.studio
    fresh = reauth_fresh(request)
    passkeys = list(passkey_list(_user_id(request)))
    is_admin = request.membership.has_role(Role.ADMIN)
    return {
        "active": "passkeys",
        "passkeys": [
            (
                passkey,
                bound.get(f"remove_{passkey.pk}")
                or PasskeyRemoveForm(needs_reauth=not fresh, auto_id=f"pr{passkey.pk}_%s"),
            )
            for passkey in passkeys
        ],
        "register_form": bound.get("register")
        or PasskeyRegisterForm(needs_reauth=not _signed_in_recently(request), auto_id="pk_%s"),
        "is_admin": is_admin,
        "requirement_form": (
            bound.get("requirement")
            or PasskeyRequirementForm(
                needs_reauth=not fresh,
                initial={"required": studio.require_approver_passkeys},
                auto_id="preq_%s",
            )
        )
        if is_admin
        else None,
    }


def _page(request: StudioRequest, status: int = 200, **bound: ReauthForm) -> HttpResponse:
    return render(request, "cockpit/passkeys.html", _context(request, **bound), status=status)


def _back(request: StudioRequest) -> HttpResponse:
    return redirect(reverse("cockpit:passkeys", args=[request.studio.slug]))


@require_GET
@studio_view()
def passkeys(request: StudioRequest) -> HttpResponse:
    return _page(request)


@require_POST
@studio_view()
@never_cache
def passkey_register_options(request: StudioRequest) -> HttpResponse:
    return HttpResponse(registration_options(request), content_type="application/json")


@require_POST
@studio_view()
@never_cache
def passkey_step_up_options(request: StudioRequest) -> HttpResponse:
    options = step_up_options(request)
    if options is None:
        return JsonResponse(
            {"code": "PASSKEY_NONE", "message": "You have no passkey registered yet."}, status=409
        )
    return HttpResponse(options, content_type="application/json")


@require_POST
@studio_view()
def passkey_register_view(request: StudioRequest) -> HttpResponse:
    form = PasskeyRegisterForm(
        request.POST,
        needs_reauth=not _signed_in_recently(request),
        request=request,
        auto_id="pk_%s",
    )
    if form.is_valid():
        form.reauthenticated()
        if not form.cleaned_data["credential"]:
            form.add_error(
                None,
                "Your browser sent no passkey: registering one needs JavaScript and a browser "
                "or security key that supports passkeys.",
            )
        else:
            try:
                passkey = passkey_register(
                    actor=Actor.staff(request.user),
                    name=form.cleaned_data["name"],
                    answer=form.cleaned_data["credential"],
                    challenge=challenge_take(request, REGISTER),
                    client=request_client(request),
                )
            except Denied as denial:
                field = "name" if "name" in denial.field_errors else None
                form.add_error(field, f"{denial.message} ({denial.code})")
            else:
                step_up_forget(request)
                messages.success(
                    request,
                    f"Passkey “{passkey.name}” registered: dangerous steps now ask for it.",
                )
                return _back(request)
    return _page(request, status=422, register=form)


@require_POST
@studio_view()
def passkey_remove_view(request: StudioRequest, passkey_id: int) -> HttpResponse:
    passkey = passkey_get(_user_id(request), passkey_id)
    if passkey is None:
        raise Http404("No such passkey.")
    form = PasskeyRemoveForm(
        request.POST,
        needs_reauth=not reauth_fresh(request),
        request=request,
        auto_id=f"pr{passkey_id}_%s",
    )
    if form.is_valid():
        form.reauthenticated()
        try:
            passkey_remove(
                actor=Actor.staff(request.user),
                passkey_id=passkey_id,
                client=request_client(request),
            )
        except Denied as denial:
            form.add_error(None, f"{denial.message} ({denial.code})")
        else:
            step_up_forget(request)
            messages.success(request, f"Passkey “{passkey.name}” removed.")
            return _back(request)
    return _page(request, status=422, **{f"remove_{passkey_id}": form})


@require_POST
@studio_view(minimum=Role.ADMIN)
def passkey_requirement_view(request: StudioRequest) -> HttpResponse:
    form = PasskeyRequirementForm(
        request.POST,
        needs_reauth=not reauth_fresh(request),
        request=request,
        auto_id="preq_%s",
    )
    if form.is_valid():
        form.reauthenticated()
        required = form.cleaned_data["required"]
        try:
            changed = studio_passkeys_require(
                actor=Actor.staff(request.user), studio_id=request.studio.pk, required=required
            )
        except Denied as denial:
            form.add_error(None, f"{denial.message} ({denial.code})")
        else:
            if changed:
                messages.success(
                    request,
                    f"{request.studio.name} now requires passkeys for dangerous steps."
                    if required
                    else f"{request.studio.name} accepts the password again for dangerous steps.",
                )
            return _back(request)
    return _page(request, status=422, requirement=form)
