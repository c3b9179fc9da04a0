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
