"""Policy page forms. Dangerous ones (exemption approval, token issue and rotation, kill switch
release) are ``ReauthForm``s: they ask for the password again when the last sign-in is older
than the re-authentication window (``governance.reauth``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from brain.selectors import member_label, studio_members
from governance.capabilities import REGISTRY
from governance.policies.intake import load_policy
from governance.reauth import ReauthForm
from governance.services.common import MIN_RATIONALE


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record.",
    )


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    owner_id = forms.ChoiceField(
        label="Staff owner",
        help_text="Who the agent acts for: a member of this studio.",
    )

    def __init__(self, *args: Any, studio_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner_id"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = [("", "Choose a member")] + [
            (m.user.get_username(), member_label(m)) for m in studio_members(studio_id)
        ]


class TokenIssueForm(ReauthForm):
    expires_in_days = forms.IntegerField(
        min_value=1, label="Expires in (days)", help_text="Shown once; only its hash is kept."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        longest = settings.BRAIN.agent_token_ttl.days
        field = self.fields["expires_in_days"]
        assert isinstance(field, forms.IntegerField)
        field.max_value = longest
        field.validators.append(MaxValueValidator(longest))
        field.initial = min(30, longest)
        field.widget.attrs.update({"min": 1, "max": longest})


def _scope_choices() -> list[tuple[str, str]]:
    return [("capability:*:execute", "every capability (capability:*:execute)")] + [
        (f"capability:{spec.id}:execute", spec.id) for spec in REGISTRY
    ]


class DelegationCreateForm(forms.Form):
    agent = forms.TypedChoiceField(coerce=int, label="Local agent")
    scopes = forms.MultipleChoiceField(
        choices=_scope_choices, widget=forms.CheckboxSelectMultiple, label="May use"
    )
    expires_in_days = forms.IntegerField(min_value=1, initial=30, label="For (days)")

    def __init__(self, *args: Any, agents: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agent = self.fields["agent"]
        assert isinstance(agent, forms.ChoiceField)
        agent.choices = agents
        days = self.fields["expires_in_days"]
        assert isinstance(days, forms.IntegerField)
        longest = settings.BRAIN.agent_token_ttl.days
        days.max_value = longest
        days.validators.append(MaxValueValidator(longest))
        days.widget.attrs.update({"min": 1, "max": longest})


def _reason_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    policy = load_policy()
    return [
        (
            "Let it through",
            [(code, f"{code} — {text}") for code, text in policy.override_reasons.items()],
        ),
        (
            "Keep it blocked",
            [(code, f"{code} — {text}") for code, text in policy.deny_reasons.items()],
        ),
    ]


class IntakeDecisionForm(forms.Form):
    reason_code = forms.ChoiceField(choices=_reason_choices, label="Reason")
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record.",
    )


class CounterResetForm(forms.Form):
    key = forms.CharField(max_length=400, widget=forms.HiddenInput)


class KillSwitchEngageForm(forms.Form):
    """What to stop: everything, this studio, one capability (every studio) or one connector."""

    target = forms.ChoiceField(label="Stop")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; shown in the banner and the audit record.",
    )

    def __init__(
        self, *args: Any, studio_label: str, connectors: list[tuple[int, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        target = self.fields["target"]
        assert isinstance(target, forms.ChoiceField)
        target.choices = [
            ("studio", f"Everything in {studio_label}"),
            ("global", "Everything, in every studio"),
            (
                "Capability (every studio)",
                [(f"capability:{spec.id}", spec.id) for spec in REGISTRY if spec.mode == "write"],
            ),
            ("Connector", [(f"connector:{pk}", name) for pk, name in connectors]),
        ]


class KillSwitchReleaseForm(ReauthForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record.",
    )
