"""Governance in the Django admin: look, never touch — except exemptions, through their services.

Capabilities come from code, proposals change only through the services (which audit),
and the audit chain is append-only: nobody, superuser included, adds, changes or
deletes any of these rows here, and there are no bulk actions. Exemptions are requested,
approved and revoked here, each through its service (so the same rules and audit apply).

Studio admins (membership role admin, no ``is_staff`` needed: see ``studio_brain.admin``)
see and act on the exemptions of their own studios only; superusers see every studio's.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from brain.models import Role, Studio
from brain.selectors import studio_ids_with_role
from governance.actors import Actor
from governance.auth_events import request_client, session_reauthenticated
from governance.capabilities import REGISTRY
from governance.errors import Denied
from governance.models import (
    AgentClient,
    AgentToken,
    Approval,
    AuditChainHead,
    AuditDigest,
    AuditEvent,
    Capability,
    Delegation,
    Execution,
    Exemption,
    IntakeReview,
    KillSwitch,
    KillSwitchEvent,
    PolicyDecision,
    Proposal,
)
from governance.reauth import (
    reauth_fresh,
    reauth_password_error,
    reauth_password_field,
    reauth_window_text,
    step_up,
)
from governance.selectors.policy import capability_is_exemptable, exemption_state
from governance.services.exemptions import exemption_approve, exemption_request, exemption_revoke
from governance.services.passkeys import passkey_password_refused


class ReadOnlyAdmin(admin.ModelAdmin):
    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Capability)
class CapabilityAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "mode",
        "risk",
        "requires_approval",
        "approvals_required",
        "max_calls_per_hour",
        "owner",
        "retired_at",
    )
    list_filter = ("mode", "risk", "requires_approval")


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "studio",
        "capability",
        "status",
        "risk",
        "requester_label",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "risk", "capability")
    list_select_related = ("studio", "capability")
    search_fields = ("summary", "requested_by_id")
    date_hierarchy = "created_at"


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("id", "proposal", "approver", "decision", "decision_round", "created_at")
    list_select_related = ("proposal", "approver")


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "proposal",
        "studio",
        "capability",
        "status",
        "connector",
        "queued_at",
        "finished_at",
        "reconciled",
        "error_code",
    )
    list_filter = ("status", "capability", "reconciled")
    list_select_related = ("proposal", "studio", "capability", "connector")


@admin.register(KillSwitch)
class KillSwitchAdmin(ReadOnlyAdmin):
    """Read-only here: engage and release on Cockpit → Policy or `manage.py kill_switch`."""

    list_display = ("label", "scope", "capability_id", "studio", "connector", "created_at")
    list_select_related = ("studio", "connector")


@admin.register(KillSwitchEvent)
class KillSwitchEventAdmin(ReadOnlyAdmin):
    list_display = ("switch", "kind", "actor_label", "reason", "occurred_at")
    list_select_related = ("switch", "switch__studio", "switch__connector")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "studio",
        "sequence",
        "occurred_at",
        "action",
        "actor_type",
        "actor_id",
        "target_type",
        "target_id",
        "reason_code",
    )
    list_filter = ("actor_type", "reason_code")
    list_select_related = ("studio",)
    search_fields = ("action", "target_id", "actor_id")


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("studio", "sequence", "hash", "updated_at")


@admin.register(AuditDigest)
class AuditDigestAdmin(ReadOnlyAdmin):
    list_display = ("studio", "day", "sequence", "head_hash", "created_at")


# Policy ---------------------------------------------------------------------------------------


class ExemptionAdminForm(forms.ModelForm):
    """Requests go through ``exemption_request``, approvals and revocations through their
    services, so the rules (second admin, maximum length, no high-risk writes) and the audit
    apply here exactly as in the cockpit.

    The service runs in ``clean()``: a denial then shows on the form like any validation
    error, and the denial is still audited. An approval asks for the password again when
    the last sign-in is older than the re-authentication window.
    """

    decision = forms.ChoiceField(
        required=False,
        choices=[("", "No change"), ("approve", "Approve"), ("revoke", "Revoke")],
        help_text="Approve (an admin other than the requester) or revoke (with a reason).",
    )
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    password = reauth_password_field(label="Password")

    class Meta:
        model = Exemption
        fields = ("studio", "capability", "owner_id", "justification", "expires_at")

    request: HttpRequest
    done: Exemption | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "password" in self.fields:
            self.fields[
                "password"
            ].help_text = (
                f"Needed to approve when your last sign-in is more than {reauth_window_text()} old."
            )
        if "capability" in self.fields:
            field = self.fields["capability"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = Capability.objects.filter(
                id__in=[spec.id for spec in REGISTRY if capability_is_exemptable(spec.id)],
                retired_at__isnull=True,
            )

    def _denied(self, denial: Denied) -> None:
        placed = False
        for name, problems in denial.field_errors.items():
            field = {"rationale": "justification"}.get(name, name)
            if field in self.fields:
                self.add_error(field, problems)
                placed = True
        if not placed:
            self.add_error(None, f"{denial.message} ({denial.code})")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        actor = Actor.staff(self.request.user)
        try:
            if self.instance.pk is None:
                self.done = exemption_request(
                    studio=data["studio"],
                    capability_id=data["capability"].id,
                    owner_id=data.get("owner_id", ""),
                    justification=data.get("justification", ""),
                    expires_at=data.get("expires_at"),
                    actor=actor,
                )
            elif data.get("decision") == "approve":
                studio = self.instance.studio
                if step_up(self.request, studio).required and not reauth_fresh(
                    self.request, studio
                ):
                    # The admin has no passkey ceremony; the cockpit's Policy page does.
                    passkey_password_refused(
                        actor=actor,
                        studio_id=studio.pk,
                        has_passkeys=step_up(self.request, studio).has_passkeys,
                        client=request_client(self.request),
                    )
                    self.add_error(
                        "password",
                        f"{studio.name} accepts only a passkey for this step: approve the "
                        "exemption on the cockpit's Policy page.",
                    )
                    return data
                if not reauth_fresh(self.request, studio):
                    error = reauth_password_error(self.request, data.get("password") or "")
                    if error is not None:
                        self.add_error("password", error)
                        return data
                    session_reauthenticated(self.request)
                exemption_approve(
                    studio=self.instance.studio, exemption_id=self.instance.pk, actor=actor
                )
                self.done = self.instance
            elif data.get("decision") == "revoke":
                exemption_revoke(
                    studio=self.instance.studio,
                    exemption_id=self.instance.pk,
                    actor=actor,
                    reason=data.get("reason", ""),
                )
                self.done = self.instance
        except Denied as denial:
            self._denied(denial)
        return data


@admin.register(Exemption)
class ExemptionAdmin(admin.ModelAdmin):
    form = ExemptionAdminForm
    actions = None
    list_display = ("id", "studio", "capability", "owner_id", "expires_at", "requested_by", "state")
    list_select_related = ("studio", "capability", "requested_by")
    list_filter = (("studio", admin.RelatedOnlyFieldListFilter), "capability")

    def _studio_ids(self, request: HttpRequest) -> set[int] | None:
        """The studios whose exemptions this user may see here; None: every studio."""
        if request.user.is_superuser:
            return None
        return studio_ids_with_role(request.user, Role.ADMIN)

    def _allowed(self, request: HttpRequest, obj: Exemption | None) -> bool:
        ids = self._studio_ids(request)
        if ids is None:
            return True
        return bool(ids) and (obj is None or obj.studio_id in ids)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        ids = self._studio_ids(request)
        if db_field.name == "studio" and ids is not None:
            kwargs["queryset"] = Studio.objects.filter(pk__in=ids).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="state")
    def state(self, obj: Exemption) -> str:
        return str(exemption_state(obj).label)

    @admin.display(description="history")
    def history(self, obj: Exemption) -> str:
        return format_html_join(
            mark_safe("<br>"),
            "{} by {} at {} {}",
            (
                (
                    event.kind,
                    event.actor.get_username(),
                    f"{event.occurred_at:%Y-%m-%d %H:%M} UTC",
                    event.reason,
                )
                for event in obj.events.select_related("actor").order_by("occurred_at", "pk")
            ),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Exemption]:
        queryset = super().get_queryset(request).prefetch_related("events")
        ids = self._studio_ids(request)
        return queryset if ids is None else queryset.filter(studio_id__in=ids)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:
            kwargs["fields"] = ("decision", "reason", "password")
        else:
            kwargs["fields"] = ExemptionAdminForm.Meta.fields
        form = super().get_form(request, obj, change=change, **kwargs)

        class RequestForm(form):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, **inner)
                self.request = request

        return RequestForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return (
            "studio",
            "capability",
            "owner_id",
            "justification",
            "expires_at",
            "requested_by",
            "created_at",
            "state",
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The service in the form's clean() already wrote (and audited) the change.
        if form.done is not None and not change:
            obj.pk = form.done.pk
            obj.requested_by = form.done.requested_by
            obj.created_at = form.done.created_at

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AgentClient)
class AgentClientAdmin(ReadOnlyAdmin):
    list_display = ("agent_id", "name", "studio", "source", "owner_id", "disabled", "removed_at")
    list_filter = ("studio", "source", "disabled")
    search_fields = ("agent_id", "name", "owner_id")


@admin.register(AgentToken)
class AgentTokenAdmin(ReadOnlyAdmin):
    list_display = (
        "prefix",
        "agent",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_select_related = ("agent", "created_by")
    exclude = ("token_hash",)


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "studio",
        "agent_id",
        "owner_id",
        "source",
        "issued_at",
        "expires_at",
        "cloud_revoked_at",
        "removed_at",
    )
    list_filter = ("studio", "source")
    search_fields = ("agent_id", "owner_id", "cloud_doc_id")


@admin.register(PolicyDecision)
class PolicyDecisionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "studio",
        "kind",
        "actor_type",
        "actor_id",
        "capability_id",
        "allowed",
        "code",
        "decided_at",
    )
    list_filter = ("kind", "allowed", "code")
    list_select_related = ("studio",)


@admin.register(IntakeReview)
class IntakeReviewAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "studio",
        "agent_id",
        "capability_id",
        "status",
        "reason_code",
        "created_at",
    )
    list_filter = ("status",)
