"""Notifications page forms: a member's events x channels and digest interval; the studio webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms

from brain.notify.models import Channel, EventKind, NotificationPreference

DIGEST_CHOICES = [
    (5, "every 5 minutes"),
    (15, "every 15 minutes"),
    (30, "every 30 minutes"),
    (60, "every hour"),
    (240, "every 4 hours"),
    (1440, "once a day"),
]


def field_name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class PreferencesForm(forms.Form):
    """One checkbox per (event, channel); unticked everywhere means the event is off."""

    digest_interval = forms.TypedChoiceField(
        choices=DIGEST_CHOICES,
        coerce=int,
        label="Digest email",
        help_text="Normal events are collected into one email at most this often; high and "
        "critical ones are emailed at once.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in EventKind:
            for channel in Channel:
                self.fields[field_name(kind, channel)] = forms.BooleanField(
                    required=False, label=f"{kind.label}: {channel.label}"
                )

    @classmethod
    def initial_from(cls, pref: NotificationPreference) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "digest_interval": int(pref.digest_interval.total_seconds() // 60)
        }
        for kind in EventKind:
            for channel in Channel:
                initial[field_name(kind, channel)] = pref.wants(kind, channel)
        if initial["digest_interval"] not in dict(DIGEST_CHOICES):
            initial["digest_interval"] = 30
        return initial

    def channels(self) -> dict[str, list[str]]:
        return {
            kind.value: [c.value for c in Channel if self.cleaned_data[field_name(kind, c)]]
            for kind in EventKind
        }

    def digest(self) -> timedelta:
        return timedelta(minutes=self.cleaned_data["digest_interval"])

    def rows(self) -> list[tuple[str, list[forms.BoundField]]]:
        """(event label, [its bound checkbox per channel]) for the table."""
        return [(kind.label, [self[field_name(kind, c)] for c in Channel]) for kind in EventKind]


class WebhookForm(forms.Form):
    url = forms.CharField(
        max_length=500,
        required=False,
        label="Webhook address",
        help_text="An http:// or https:// address that accepts Slack-style JSON. It is never "
        "shown again (it may carry a token); leave empty to keep the current one.",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/services/…"}),
    )
    secret_env = forms.CharField(
        max_length=128,
        label="Secret's environment variable",
        help_text="The name of the variable (or NAME_FILE) on this runtime that holds the HMAC "
        "secret; the secret itself is never stored here.",
        widget=forms.TextInput(attrs={"placeholder": "NOTIFY_WEBHOOK_SECRET"}),
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Send to this webhook")
