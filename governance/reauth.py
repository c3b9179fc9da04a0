"""Sudo mode: a dangerous action asks for the password again when this session's last sign-in
(login or re-authentication) is older than ``BRAIN_REAUTH_WINDOW``.

Dangerous: approving a high or critical risk proposal, approving an exemption (in the
cockpit and in the Django admin), issuing or rotating an agent token, releasing a kill
switch. The one implementation lives here, not in the cockpit, because the Django admin
(``governance/admin.py``) needs it too and governance may not import cockpit.

The pieces: ``reauth_fresh(request)`` says whether the session is inside the window;
``ReauthForm`` adds the password field when it is not and checks it; after the whole form
is valid, ``form.reauthenticated()`` audits the re-authentication and restarts the window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

from brain.config import format_duration
from governance.auth_events import session_authenticated_within, session_reauthenticated


def reauth_window() -> timedelta:
    return settings.BRAIN.reauth_window


def reauth_fresh(request: HttpRequest) -> bool:
    """Whether this session proved the password within the re-authentication window."""
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
    """A form that asks for the staff member's password when ``needs_reauth`` (sudo mode).

    Subclasses add their own fields and may change ``reauth_needed``, the first half of the
    password's help text. A bound form that needs the password gets the ``request``.
    """

    reauth_needed = "This needs a recent sign-in"
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
        if not needs_reauth:
            del self.fields["password"]
        else:
            self.fields["password"].required = True
            self.fields["password"].help_text = reauth_help_text(self.reauth_needed)

    def clean_password(self) -> str:
        password: str = self.cleaned_data.get("password", "")
        assert self.request is not None
        error = reauth_password_error(self.request, password)
        if error is not None:
            raise forms.ValidationError(error)
        return password

    def reauthenticated(self) -> None:
        """Once the form is valid: audit the re-authentication, if one was asked, and restart
        the window."""
        if self.needs_reauth:
            assert self.request is not None
            session_reauthenticated(self.request)
