"""The step-up a re-authentication box offers (``cockpit/_reauth.html``)."""

from __future__ import annotations

from typing import Any

from django import template

from governance.reauth import StepUp, step_up

register = template.Library()


@register.simple_tag(takes_context=True)
def reauth_step_up(context: template.Context) -> StepUp:
    """Passkey, password, or passkey only, for the signed-in user in the page's studio."""
    request: Any = context["request"]
    return step_up(request)


# How the browser reaches the key, in staff's words (WebAuthn's transport names on hover).
TRANSPORT_WORDS = {
    "internal": "this device",
    "hybrid": "a phone nearby",
    "cable": "a phone nearby",
    "usb": "USB security key",
    "nfc": "NFC security key",
    "ble": "Bluetooth security key",
    "smart-card": "smart card",
}


@register.filter
def passkey_transports(transports: list[str]) -> str:
    words = dict.fromkeys(TRANSPORT_WORDS.get(t, t) for t in transports)
    return ", ".join(words)
