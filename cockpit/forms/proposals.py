"""Proposal forms: the queue filters, the decision form (with re-auth) and a new proposal."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import forms

from brain.models import Membership, Role
from governance.capabilities import REGISTRY, CapabilitySpec
from governance.enums import Mode, ProposalStatus, Risk
from governance.reauth import ReauthForm
from governance.selectors.proposals import AGES, PROPOSAL_SORTS, ProposalFilters
from governance.services.bulk_review import BULK_LIMIT
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


SAVED_FILTERS = {
    "needs-me": "Needs me",
    "high-risk": "High risk",
    "expiring-today": "Expiring today",
}


class ProposalFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        strip=True,
        widget=forms.SearchInput(
            attrs={"placeholder": "capability, target, requester or text", "autocomplete": "off"}
        ),
    )
    view = forms.ChoiceField(
        required=False, choices=[("", "All"), *SAVED_FILTERS.items()], widget=forms.HiddenInput
    )
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *ProposalStatus.choices]
    )
    risk = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=[("", "Any risk"), *Risk.choices]
    )
    capability = forms.ChoiceField(
        required=False,
        choices=[("", "Any capability")]
        + [(spec.id, spec.description.rstrip(".")) for spec in REGISTRY],
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

    def filters(
        self, *, user_id: int | None = None, end_of_today: datetime | None = None
    ) -> ProposalFilters:
        """The selector's filters; a saved filter (``view``) adds its conditions on top."""
        if not self.is_valid():
            return ProposalFilters()
        data = self.cleaned_data
        view = data["view"]
        return ProposalFilters(
            status=data["status"],
            risk=data["risk"],
            capability=data["capability"],
            requester=data["requester"],
            age=data["age"],
            sort=data["sort"] or ("expiring" if view == "expiring-today" else "newest"),
            q=data["q"],
            needs_decision_by=user_id if view == "needs-me" else None,
            risk_at_least=Risk.HIGH if view == "high-risk" else None,
            expires_before=end_of_today if view == "expiring-today" else None,
        )


class DecisionForm(ReauthForm):
    """Approve or reject with a rationale; asks for the password when re-authentication is due."""

    reauth_needed = "High-risk approvals need a recent sign-in"
    field_order = ["rationale", "password"]
    denial_code = ""  # set by the view when the service refused: shown on hover

    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record.",
    )


class ProposalIdsField(forms.Field):
    """The ticked boxes of the queue: proposal ids (the service scopes them to the studio)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one proposal.",
        "invalid": "A selected proposal is not a proposal number.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        try:
            ids = [int(v) for v in values]
        except (TypeError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if any(not 0 < pk < 2**63 for pk in ids):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return sorted(set(ids))


class BulkDecisionForm(ReauthForm):
    """Approve or reject the selected proposals with one rationale (the queue's bulk bar)."""

    reauth_needed = "High-risk approvals need a recent sign-in"
    field_order = ["proposal", "verb", "rationale", "password"]

    proposal = ProposalIdsField(label="Proposals")
    verb = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 1}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        label="Rationale for all selected",
        help_text=f"At least {MIN_RATIONALE} characters; kept in each audit record.",
    )

    def clean_proposal(self) -> list[int]:
        chosen: list[int] = self.cleaned_data["proposal"]
        if len(chosen) > BULK_LIMIT:
            raise forms.ValidationError(
                f"At most {BULK_LIMIT} proposals at once (you selected {len(chosen)})."
            )
        return chosen


class ReasonForm(forms.Form):
    """Withdraw an approval or cancel a proposal: why, kept in the audit record."""

    denial_code = ""  # set by the view when the service refused: shown on hover

    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record.",
    )


# Areas of the capability choice, by the first part of a capability id.
AREAS = {
    "firestore": "Batches and ops notes",
    "finance": "Finance",
    "hubitat": "Hubitat devices",
    "roborock": "Roborock vacuums",
}


def proposable_capabilities(membership: Membership) -> list[tuple[str, list[CapabilitySpec]]]:
    """The capabilities this member may propose, by area. Staff propose from the operator
    role up (``proposal_submit``), and only writes: reads run without a proposal."""
    if not membership.has_role(Role.OPERATOR):
        return []
    areas: dict[str, list[CapabilitySpec]] = {}
    for spec in REGISTRY:
        if spec.mode == Mode.WRITE:
            areas.setdefault(AREAS.get(spec.id.split(".")[0], "Other"), []).append(spec)
    return list(areas.items())


class ProposalForm(forms.Form):
    """A new proposal's capability and rationale; the input comes from the generated
    ``CapabilityInputForm``, or, when ``input`` is posted, as raw JSON (the admins'
    advanced disclosure; the service validates it exactly like the generated fields)."""

    capability = forms.ChoiceField(widget=forms.HiddenInput)
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; approvers read it.",
    )
    input = forms.CharField(
        required=False,
        label="Input as JSON",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="Replaces the fields above when filled in.",
    )

    def __init__(self, *args: Any, capabilities: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["capability"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(c, c) for c in capabilities]

    def raw_input(self) -> dict[str, Any] | None:
        """The posted JSON input as an object, or None (not posted, empty or not JSON)."""
        text = (self.data.get("input") or "").strip() if self.is_bound else ""
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def clean_input(self) -> dict[str, Any] | None:
        text = (self.cleaned_data.get("input") or "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not JSON: {error.msg} at character {error.pos}."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError('The input must be a JSON object, e.g. {"key": "value"}.')
        return value
