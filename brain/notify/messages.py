"""What a notification says: the plain-text email (one event, or a digest) and the Slack JSON.

Plain functions over plain values, so tests call them directly. Every message links to the
cockpit page of the thing and says that nothing in the message approves anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

NOTHING_APPROVES = (
    "Nothing in this message approves or changes anything: open the cockpit to decide."
)


@dataclass(frozen=True)
class EventText:
    studio_name: str
    title: str
    body: str
    url: str
    severity: str  # normal | high | critical
    occurred_at: datetime


def absolute_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def email_subject(event: EventText) -> str:
    flag = "" if event.severity == "normal" else f"[{event.severity.upper()}] "
    return f"{flag}{event.studio_name}: {event.title}"[:200]


def email_body(event: EventText, *, preferences_url: str) -> str:
    lines = [event.title, ""]
    if event.body:
        lines += [event.body, ""]
    lines += [
        f"Open it in the cockpit: {event.url}",
        "",
        f"Severity: {event.severity}. Happened at {event.occurred_at:%Y-%m-%d %H:%M} UTC.",
        NOTHING_APPROVES,
        "",
        f"Choose what reaches you: {preferences_url}",
    ]
    return "\n".join(lines) + "\n"


def digest_subject(studio_name: str, count: int) -> str:
    return f"{studio_name}: {count} notification{'s' if count != 1 else ''}"


def digest_body(studio_name: str, events: Sequence[EventText], *, preferences_url: str) -> str:
    lines = [f"{len(events)} thing{'s' if len(events) != 1 else ''} happened in {studio_name}:", ""]
    for event in events:
        lines.append(f"- {event.occurred_at:%Y-%m-%d %H:%M} UTC  {event.title}")
        if event.body:
            lines.append(f"  {event.body}")
        lines.append(f"  {event.url}")
    lines += ["", NOTHING_APPROVES, "", f"Choose what reaches you: {preferences_url}"]
    return "\n".join(lines) + "\n"


def _mrkdwn(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: EventText) -> dict[str, object]:
    """Slack-compatible JSON: ``text`` for clients without blocks, ``blocks`` for the rest."""
    title = _mrkdwn(event.title)
    section = f"*{title}*"
    if event.body:
        section += "\n" + _mrkdwn(event.body)
    return {
        "text": f"{event.studio_name}: {event.title} {event.url}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": section}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{_mrkdwn(event.studio_name)} · {event.severity} · "
                        f"<{event.url}|Open in the cockpit> · {NOTHING_APPROVES}",
                    }
                ],
            },
        ],
    }


def slack_body(event: EventText) -> bytes:
    return json.dumps(slack_payload(event), ensure_ascii=False).encode()
