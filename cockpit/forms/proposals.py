"""Proposal forms: the queue filters, the decision form (with re-auth) and a new proposal."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from governance.capabilities import REGISTRY
from governance.enums import Mode, ProposalStatus, Risk
from governance.reauth import ReauthForm
from governance.selectors.proposals import AGES, PROPOSAL_SORTS, ProposalFilters
from governance.services.common import MIN_RATIONALE

AGE_LABELS = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "older-24h": "Older than 24 hours",
    "older-72h": "Older than 72 hours",
}
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "risk": "Highest risk first",
    "expiring": "Expiring soonest",
}


class ProposalFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *ProposalStatus.choices]
    )
    risk = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=[("", "Any risk"), *Risk.choices]
    )
    capability = forms.ChoiceField(
        required=False, choices=[("", "Any capability")] + [(spec.id, spec.id) for spec in REGISTRY]
    )
    requester = forms.ChoiceField(required=False)
    age = forms.ChoiceField(
        required=False, choices=[("", "Any age"), *[(k, AGE_LABELS[k]) for k in AGES]]
    )
    sort = forms.ChoiceField(required=False, choices=[(k, SORT_LABELS[k]) for k in PROPOSAL_SORTS])

    def __init__(self, data: Any, *, requesters: list[tuple[str, str]]) -> None:
        # The queue opens on what needs a decision: pending, unless the staff member chose.
        data = data.copy()
        if "status" not in data:
            data["status"] = ProposalStatus.PENDING_APPROVAL
        super().__init__(data)
        requester = self.fields["requester"]
        assert isinstance(requester, forms.ChoiceField)
        requester.choices = [("", "Anyone"), *requesters]

    def filters(self) -> ProposalFilters:
        if not self.is_valid():
            return ProposalFilters()
        data = self.cleaned_data
        return ProposalFilters(
            status=data["status"],
            risk=data["risk"],
            capability=data["capability"],
            requester=data["requester"],
            age=data["age"],
            sort=data["sort"] or "newest",
        )


class DecisionForm(ReauthForm):
    """Approve or reject with a rationale; asks for the password when re-authentication is due."""

    reauth_needed = "High-risk approvals need a recent sign-in"
    field_order = ["rationale", "password"]

    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record.",
    )


class ReasonForm(forms.Form):
    """Withdraw an approval or cancel a proposal: why, kept in the audit record."""

    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record.",
    )


class ProposalForm(forms.Form):
    """A new proposal: a write capability, its input as JSON, and why."""

    capability = forms.ChoiceField(
        choices=[
            (spec.id, f"{spec.id} — {spec.description}")
            for spec in REGISTRY
            if spec.mode == Mode.WRITE
        ]
    )
    input = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="The capability's input as a JSON object.",
    )
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; approvers read it.",
    )

    def clean_input(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["input"])
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not JSON: {error.msg} at character {error.pos}."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError('The input must be a JSON object, e.g. {"key": "value"}.')
        return value
