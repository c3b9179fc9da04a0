"""What a notification says (pure functions)."""

from __future__ import annotations

import datetime as dt
import json

from brain.notify.messages import (
    EventText,
    digest_body,
    email_body,
    email_subject,
    slack_body,
)

EVENT = EventText(
    studio_name="North Kiln Ceramics",
    title="Proposal #7 needs approval: refund <$40> & note",
    body="High risk.",
    url="https://brain.example/s/north-kiln/proposals/7/",
    severity="high",
    occurred_at=dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC),
)


def test_the_email_links_to_the_cockpit_and_approves_nothing():
    text = email_body(EVENT, preferences_url="https://brain.example/s/north-kiln/notifications/")
    assert email_subject(EVENT) == (
        "[HIGH] North Kiln Ceramics: Proposal #7 needs approval: refund <$40> & note"
    )
    assert "Open it in the cockpit: https://brain.example/s/north-kiln/proposals/7/" in text
    assert "Nothing in this message approves or changes anything" in text
    assert "approve?" not in text.lower() and "token" not in text


def test_a_normal_event_has_no_flag_and_a_digest_lists_every_event():
    normal = EventText(**{**EVENT.__dict__, "severity": "normal"})
    assert email_subject(normal).startswith("North Kiln Ceramics: ")
    digest = digest_body("North Kiln Ceramics", [EVENT, normal], preferences_url="u")
    assert digest.startswith("2 things happened in North Kiln Ceramics:")
    assert digest.count("https://brain.example/s/north-kiln/proposals/7/") == 2


def test_the_slack_json_escapes_mrkdwn_and_links_to_the_cockpit():
    payload = json.loads(slack_body(EVENT))
    assert set(payload) == {"text", "blocks"}
    section = payload["blocks"][0]["text"]["text"]
    assert section.startswith("*Proposal #7 needs approval: refund &lt;$40&gt; &amp; note*")
    assert (
        "<https://brain.example/s/north-kiln/proposals/7/|Open in the cockpit>"
        in (payload["blocks"][1]["elements"][0]["text"])
    )
