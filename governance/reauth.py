"""Sudo mode: a dangerous action asks for the password again when this session's last sign-in
(login or re-authentication) is older than ``BRAIN_REAUTH_WINDOW``.

Dangerous: approving a high or critical risk proposal, approving an exemption (in the
cockpit and in the Django admin), issuing or rotating an agent token, releasing a kill
switch. The one implementation lives here, not in the cockpit, because the Django admin
(``governance/admin.py``) needs it too and governance may not import cockpit.

The pieces: ``reauth_fresh(request)`` says whether the session is inside the window;
``ReauthForm`` adds the password field when it is not and checks it; after the whole form
is valid, ``form.reauthenticated()`` audits the re-authentication and restarts the window.

Passkeys (``step_up``): when the staff member has registered one, the step-up is the passkey
(the cockpit's script posts the browser's answer as ``passkey_assertion`` with the form) and
the password stays as the fallback. A studio that requires passkeys
(``Studio.require_approver_passkeys``) refuses the password, audited, and counts only a
passkey proved within the window as fresh; a login by password does not unlock its
dangerous steps. A verified passkey restarts the window at once, even when the rest of the
form has an error, since its challenge cannot be answered twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

from brain.config import format_duration
from brain.models import Studio
from governance.actors import Actor
from governance.auth_events import (
    PASSKEY_AT_SESSION_KEY,
    request_client,
    session_authenticated_within,
    session_reauthenticated,
)
from governance.errors import Denied
from governance.models import Passkey
from governance.passkeys import ASSERTION_FIELD, STEP_UP, challenge_take
from governance.services.passkeys import passkey_password_refused, passkey_use

STEP_UP_MEMO = "_brain_step_up"


def reauth_window() -> timedelta:
    return settings.BRAIN.reauth_window


@dataclass(frozen=True)
class StepUp:
    """How this staff member proves themselves again, in the studio of the request."""

    has_passkeys: bool
    # The studio accepts only a passkey (``Studio.require_approver_passkeys``).
    required: bool
    studio_id: int | None

    @property
    def passkey(self) -> bool:
        """The passkey is offered (the user has one), or demanded (the studio requires one)."""
        return self.has_passkeys or self.required

    @property
    def password_allowed(self) -> bool:
        return not self.required

    @property
    def window_text(self) -> str:
        return reauth_window_text()


def step_up(request: HttpRequest, studio: Studio | None = None) -> StepUp:
    """The step-up for ``request.user`` in ``studio`` (default: the cockpit's ``request.studio``).
    One query per request: pages with many sudo forms ask once."""
    studio = studio or getattr(request, "studio", None)
    memo: dict[int | None, StepUp] = request.__dict__.setdefault(STEP_UP_MEMO, {})
    studio_id = studio.pk if studio is not None else None
    if studio_id not in memo:
        user = request.user
        has = user.pk is not None and Passkey.objects.filter(user_id=user.pk).exists()
        memo[studio_id] = StepUp(
            has_passkeys=has,
            required=bool(studio is not None and studio.require_approver_passkeys),
            studio_id=studio_id,
        )
    return memo[studio_id]


def step_up_forget(request: HttpRequest) -> None:
    """After a passkey was added or removed in this request."""
    request.__dict__.pop(STEP_UP_MEMO, None)


def reauth_fresh(request: HttpRequest, studio: Studio | None = None) -> bool:
    """Whether this session proved itself within the re-authentication window: by password
    or passkey, or by passkey only where the studio requires passkeys."""
    if step_up(request, studio).required:
        return session_authenticated_within(request, reauth_window(), key=PASSKEY_AT_SESSION_KEY)
    return session_authenticated_within(request, reauth_window())


def reauth_window_text() -> str:
    """The window as staff read it: "10 min"."""
    return format_duration(reauth_window().total_seconds())


def reauth_help_text(needed: str = "This needs a recent sign-in") -> str:
    """``needed``, then why the password is asked for, with the configured window."""
    return f"{needed}: your last one is more than {reauth_window_text()} old."


def reauth_password_field(*, label: str = "Your password", help_text: str = "") -> forms.CharField:
    return forms.CharField(
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label=label,
        help_text=help_text,
    )


REAUTH_WRONG = "That password is not correct."
REAUTH_LOCKED = "Too many wrong passwords: wait {wait} and try again. Nothing was changed."


def reauth_password_error(request: HttpRequest, password: str) -> str | None:
    """Why ``password`` does not re-authenticate the signed-in user, or None when it does.

    authenticate() goes through django-axes, so guessing here is throttled like the login
    page, but as the user's own failures only (``governance.login_lockout``): a wrong
    password here never counts against colleagues sharing the address. Once the user is
    locked, the box says so in its own words instead of answering with the sign-in page.
    """
    from governance.login_lockout import REAUTH_FLAG

    user = request.user
    setattr(request, REAUTH_FLAG, True)
    try:
        authenticated = authenticate(request, username=user.get_username(), password=password)
    finally:
        setattr(request, REAUTH_FLAG, False)
    if authenticated is not None:
        return None
    if getattr(request, "axes_locked_out", False):
        request.axes_locked_out = False  # type: ignore[attr-defined]
        return REAUTH_LOCKED.format(
            wait=format_duration(settings.AXES_COOLOFF_TIME.total_seconds())
        )
    return REAUTH_WRONG


class ReauthForm(forms.Form):
    """A form that asks the staff member to prove themselves again when ``needs_reauth``
    (sudo mode): with a passkey when they have one, else (or as the fallback, unless the
    studio requires passkeys) with the password.

    Subclasses add their own fields and may change ``reauth_needed``, the first half of the
    password's help text. A bound form that needs the step-up gets the ``request``. The
    template renders the ``password`` field through ``cockpit/_reauth.html``.
    """

    reauth_needed = "This needs a recent sign-in"
    # True for the one form that must take the password even where the studio requires
    # passkeys: registering a passkey (else nobody could register their first one there).
    password_only = False
    password = reauth_password_field()

    def __init__(
        self,
        *args: Any,
        needs_reauth: bool = False,
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.needs_reauth = needs_reauth
        self.request = request
        self.passkey_verified = False
        if not needs_reauth:
            del self.fields["password"]
        else:
            # Not required as a field: a passkey answer stands in for it (checked below).
            self.fields["password"].required = False
            self.fields["password"].help_text = reauth_help_text(self.reauth_needed)

    def clean_password(self) -> str:
        password: str = self.cleaned_data.get("password", "")
        request = self.request
        assert request is not None
        step = step_up(request)
        actor = Actor.staff(request.user)
        answer = "" if self.password_only else str(self.data.get(ASSERTION_FIELD, "") or "")
        if answer:
            try:
                passkey_use(
                    actor=actor,
                    answer=answer,
                    challenge=challenge_take(request, STEP_UP),
                    studio_id=step.studio_id,
                    client=request_client(request),
                )
            except Denied as refused:
                raise forms.ValidationError(f"{refused.message} ({refused.code})") from None
            session_reauthenticated(request, method="passkey")
            self.passkey_verified = True
            return ""
        if step.required and not self.password_only:
            assert step.studio_id is not None
            denial = passkey_password_refused(
                actor=actor,
                studio_id=step.studio_id,
                has_passkeys=step.has_passkeys,
                client=request_client(request),
            )
            raise forms.ValidationError(f"{denial.message} ({denial.code})")
        if not password:
            if step.has_passkeys and not self.password_only:
                raise forms.ValidationError("Confirm with your passkey, or enter your password.")
            raise forms.ValidationError("Enter your password.")
        error = reauth_password_error(request, password)
        if error is not None:
            raise forms.ValidationError(error)
        return password

    def reauthenticated(self) -> None:
        """Once the form is valid: audit the re-authentication, if one was asked (a passkey's
        was audited when it was checked), and restart the window."""
        if self.needs_reauth and not self.passkey_verified:
            assert self.request is not None
            session_reauthenticated(self.request)
