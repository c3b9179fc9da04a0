"""The audit timeline's filters."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms

from governance.selectors.audit import AuditFilters


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=100, label="Action starts with")
    actor = forms.CharField(
        required=False, max_length=110, help_text="e.g. staff:3, agent:ops-bot or an id"
    )
    target = forms.CharField(
        required=False, max_length=160, help_text="e.g. proposal:12 or proposal"
    )
    since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From"
    )
    until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self, timezone_name: str) -> AuditFilters:
        if not self.is_valid():
            return AuditFilters()
        zone = zoneinfo.ZoneInfo(timezone_name)
        data = self.cleaned_data

        def start_of(day: dt.date | None) -> dt.datetime | None:
            return dt.datetime.combine(day, dt.time(), tzinfo=zone) if day else None

        until = data.get("until")
        return AuditFilters(
            action=data["action"].strip(),
            actor=data["actor"].strip(),
            target=data["target"].strip(),
            since=start_of(data.get("since")),
            # "To" includes the whole day, in the studio's time zone.
            until=start_of(until + dt.timedelta(days=1)) if until else None,
        )
