"""Account → Passkeys forms: register one (named), remove one, and the studio's requirement.

All three are ``ReauthForm``s (sudo mode). Registering asks for a recent sign-in by password
even where the studio requires passkeys, or nobody could register their first one there.
"""

from __future__ import annotations

from django import forms

from governance.reauth import ReauthForm
from governance.services.passkeys import NAME_MAX


class PasskeyRegisterForm(ReauthForm):
    reauth_needed = "Adding a passkey needs a recent sign-in"
    password_only = True
    name = forms.CharField(
        max_length=NAME_MAX,
        label="Name",
        help_text="So you can tell your keys apart: “work laptop”, “blue security key”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    # The browser's answer to navigator.credentials.create, filled in by cockpit/passkeys.js.
    credential = forms.CharField(required=False, widget=forms.HiddenInput)
    field_order = ["name", "password", "credential"]


class PasskeyRemoveForm(ReauthForm):
    reauth_needed = "Removing a passkey needs a recent sign-in"


class PasskeyRequirementForm(ReauthForm):
    reauth_needed = "Changing this needs a recent sign-in"
    required = forms.BooleanField(
        required=False,
        label="Approvers must confirm dangerous steps with a passkey",
        help_text="High and critical approvals, kill switch release, exemption approval and "
        "agent tokens then accept only a passkey, never the password.",
    )
    field_order = ["required", "password"]
