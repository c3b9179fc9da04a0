"""Words, not codes, on staff pages: who acted (a name, not "staff:otto") and why (a reason
code's plain sentence). The code stays on hover, in the ``title``."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.contrib.auth import get_user_model
from django.template import Context
from django.utils.html import format_html
from django.utils.safestring import SafeString

from governance.capabilities import CAPABILITIES
from governance.enums import ActorType
from governance.models import AgentClient
from governance.reasons import EXPLANATIONS, ReasonCode

register = template.Library()

# Codes written by the runtime that are not governance reason codes (auth events, runs).
OTHER_REASONS = {
    "AUTH_FAILED": "A sign-in failed: wrong username or password.",
}
CACHE_KEY = "cockpit_words.actors"


def actor_parts(subject: Any) -> tuple[str, str]:
    """(type, id) of whoever ``subject`` names: a "type:id" label, an audit event or policy
    decision (``actor_type``/``actor_id``), a proposal (``requested_by_*``) or a user."""
    if isinstance(subject, str):
        kind, _, ident = subject.partition(":")
        return (kind.strip(), ident.strip()) if ident else ("", subject.strip())
    if hasattr(subject, "actor_type"):
        return str(subject.actor_type), str(subject.actor_id)
    if hasattr(subject, "requested_by_type"):
        return str(subject.requested_by_type), str(subject.requested_by_id)
    if hasattr(subject, "get_username"):
        return str(ActorType.STAFF), str(subject.pk)
    return "", str(subject or "")


def _staff_name(ident: str) -> tuple[str, str]:
    """(display name, username) of a staff id: a user's pk (audit rows) or username (labels)."""
    users = get_user_model().objects.only("username", "first_name", "last_name")
    user = users.filter(pk=int(ident)).first() if ident.isdigit() else None
    if user is None:
        user = users.filter(username=ident).first()
    if user is None:
        return ident, ident
    return user.get_full_name() or user.get_username(), user.get_username()


def _agent_name(ident: str, studio: Any) -> str:
    agents = AgentClient.objects.filter(agent_id=ident)
    if studio is not None:
        agents = agents.filter(studio=studio)
    name = agents.values_list("name", flat=True).first()
    return f"{name} (agent)" if name else f"Agent {ident}"


@register.simple_tag(takes_context=True)
def actor(context: Context, subject: Any, name: str | None = None) -> SafeString | str:
    """Who acted, as staff read it: "Otto Weber" (the user's name, else username), an agent's
    name, "Studio Brain (expire proposals)" for the system; the id on hover. One query per
    distinct person per page, none when the selector already read the ``name``."""
    kind, ident = actor_parts(subject)
    if not ident:
        return ""
    if name is not None and kind != ActorType.AGENT:
        shown = name.strip() or ident
        return format_html('<span class="actor" title="{}:{}">{}</span>', kind, ident, shown)
    # One page's names, kept for this render only (render_context dies with it).
    render_context: Any = context.render_context
    cache: dict[tuple[str, str], tuple[str, str]] = render_context.setdefault(CACHE_KEY, {})
    key = (kind, ident)
    if key not in cache:
        if kind == ActorType.STAFF:
            name, username = _staff_name(ident)
            cache[key] = (name, f"staff:{username}")
        elif kind == ActorType.AGENT:
            cache[key] = (_agent_name(ident, context.get("current_studio")), f"agent:{ident}")
        elif kind == ActorType.SYSTEM:
            words = ident.replace("_", " ").replace("-", " ").replace(".", " ")
            cache[key] = (f"Studio Brain ({words})", f"system:{ident}")
        else:
            cache[key] = (ident, f"{kind}:{ident}" if kind else ident)
    name, code = cache[key]
    return format_html('<span class="actor" title="{}">{}</span>', code, name)


def reason_sentence(code: str) -> str:
    try:
        return EXPLANATIONS[ReasonCode(code)]
    except ValueError:
        return OTHER_REASONS.get(code, code.replace("_", " ").capitalize())


@register.filter
def reason(code: str | None) -> SafeString | str:
    """A reason code as its plain sentence, the code on hover."""
    if not code:
        return ""
    return format_html(
        '<span class="reason" title="Reason code {}">{}</span>', code, reason_sentence(str(code))
    )


@register.filter
def switch_name(switch: Any) -> str:
    """A kill switch as staff name it: the studio's name rather than its slug."""
    studio = getattr(switch, "studio", None)
    if studio is not None and getattr(switch, "scope", "") == "studio":
        return f"studio {studio.name}"
    return str(switch.label)


BREAKER_WORDS = {
    "closed": "Connector calls flowing normally",
    "open": "Calls paused after repeated failures",
    "half_open": "Trying one call to see if it has recovered",
}


@register.filter
def breaker_words(state: str) -> str:
    """A circuit breaker's state in words ("closed" is the normal, unremarkable state)."""
    return BREAKER_WORDS.get(state, state)


@register.filter
def code_words(code: str | None) -> SafeString | str:
    """A machine name staff meet (a job's "firestore_read", a collection's "kilnFirings") as
    words ("Firestore read", "Kiln firings"), the name on hover."""
    if not code:
        return ""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|[_.\-]+", " ", str(code))  # kilnFirings, firestore_read
    words = spaced.strip().capitalize()
    return format_html('<span title="{}">{}</span>', code, words)


@register.filter
def capability_words(capability_id: str | None) -> SafeString | str:
    """A capability as staff read it: its description ("Append an ops note to a batch"), the
    registry id on hover."""
    if not capability_id:
        return ""
    spec = CAPABILITIES.get(str(capability_id))
    words = spec.description.rstrip(".") if spec else str(capability_id)
    return format_html('<span class="capability" title="{}">{}</span>', capability_id, words)


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    """``mapping[key]`` in a template (names a view looked up once for a whole page)."""
    return mapping.get(key, "")
