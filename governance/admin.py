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
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from brain.models import Role, Studio
from brain.selectors import studio_ids_with_role
from governance.actors import Actor
from governance.auth_events import request_client, session_reauthenticated
from governance.capabilities import REGISTRY
from governance.enums import ProposalStatus
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
    PendingProposal,
    PolicyDecision,
    Proposal,
)
from governance.reauth import (
    ReauthForm,
    reauth_fresh,
    reauth_password_error,
    reauth_password_field,
    reauth_window_text,
    step_up,
)
from governance.selectors.policy import capability_is_exemptable, exemption_state
from governance.services.approvals import approval_grant, approval_reject
from governance.services.common import MIN_RATIONALE
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


class AdminDecisionForm(ReauthForm):
    """The intermediate page of the approve/reject actions: one rationale for the selected
    proposals, and the password when approving after the re-authentication window."""

    reauth_needed = "Approving needs a recent sign-in"
    field_order = ["rationale", "password"]
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=MIN_RATIONALE,
        max_length=2000,
        help_text=f"At least {MIN_RATIONALE} characters; kept in the audit record of each.",
    )


@admin.register(PendingProposal)
class PendingProposalAdmin(admin.ModelAdmin):
    """The proposals awaiting a decision, for approvers of their own studios.

    Nothing here edits a proposal: every field is read-only, and the approve and reject
    actions call ``approval_grant`` / ``approval_reject`` once per proposal, so the rules
    (rationale, re-authentication, no self-approval, the quorum, the audit) are the
    cockpit's. Each proposal's outcome is reported on its own.
    """

    # Short columns that fit 1280 px beside the sidebars; the capability id is in the filter
    # and on the detail (the summary says what the proposal does, in words).
    list_display = ("id", "summary", "risk", "requester", "votes", "expires")
    list_display_links = ("id", "summary")
    list_select_related = ("studio", "capability", "requested_by_user")
    list_filter = ("risk", "capability")
    search_fields = ("summary", "requested_by_id", "capability__id")
    actions = ("approve_selected", "reject_selected")
    fields = (
        "studio",
        "capability",
        "summary",
        "status",
        "risk",
        "approvals_required",
        "input",
        "expected_effects",
        "rationale",
        "requester",
        "created_at",
        "expires_at",
    )
    readonly_fields = fields

    def _studio_ids(self, request: HttpRequest) -> set[int] | None:
        if request.user.is_superuser:
            return None
        return studio_ids_with_role(request.user, Role.APPROVER)

    def _allowed(self, request: HttpRequest, obj: Any = None) -> bool:
        ids = self._studio_ids(request)
        return ids is None or (bool(ids) and (obj is None or obj.studio_id in ids))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingProposal]:
        queryset = (
            super()
            .get_queryset(request)
            .filter(status=ProposalStatus.PENDING_APPROVAL)
            .prefetch_related("approvals")
        )
        ids = self._studio_ids(request)
        return queryset if ids is None else queryset.filter(studio_id__in=ids)

    def get_list_display(self, request: HttpRequest) -> Any:
        ids = self._studio_ids(request)
        if ids is None or len(ids) > 1:
            return ("id", "studio", *self.list_display[1:])
        return self.list_display

    @admin.display(description="requested by", ordering="requested_by_id")
    def requester(self, obj: Proposal) -> str:
        user = obj.requested_by_user
        if user is not None:
            return user.get_username()
        return f"{obj.get_requested_by_type_display()} {obj.requested_by_id}"

    @admin.display(description="expires (UTC)", ordering="expires_at")
    def expires(self, obj: Proposal) -> str:
        return f"{obj.expires_at:%d %b %H:%M}" if obj.expires_at else "—"

    @admin.display(description="approvals")
    def votes(self, obj: Proposal) -> str:
        granted = {
            a.approver_id
            for a in obj.approvals.all()
            if a.decision_round == obj.decision_round and a.decision == "granted"
        }
        return f"{len(granted)} of {obj.approvals_required}"

    @admin.action(description="Approve selected proposals")
    def approve_selected(
        self, request: HttpRequest, queryset: QuerySet[PendingProposal]
    ) -> HttpResponse | None:
        return self._decide(request, queryset, approving=True)

    @admin.action(description="Reject selected proposals")
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[PendingProposal]
    ) -> HttpResponse | None:
        return self._decide(request, queryset, approving=False)

    def _decide(
        self, request: HttpRequest, queryset: QuerySet[PendingProposal], *, approving: bool
    ) -> HttpResponse | None:
        """The intermediate page; on confirmation, one service call per proposal."""
        proposals = list(queryset.select_related("requested_by_user").order_by("pk"))
        needs_reauth = approving and not reauth_fresh(request)
        confirmed = "confirm" in request.POST
        form = AdminDecisionForm(
            request.POST if confirmed else None, needs_reauth=needs_reauth, request=request
        )
        if confirmed and form.is_valid():
            form.reauthenticated()
            service = approval_grant if approving else approval_reject
            actor = Actor.staff(request.user)
            for proposal in proposals:
                try:
                    service(
                        proposal_id=proposal.pk,
                        actor=actor,
                        rationale=form.cleaned_data["rationale"],
                    )
                except Denied as denial:
                    self.message_user(
                        request,
                        f"#{proposal.pk} {proposal.summary}: not "
                        f"{'approved' if approving else 'rejected'}: {denial.message} "
                        f"({denial.code})",
                        messages.ERROR,
                    )
                else:
                    proposal.refresh_from_db(fields=["status"])
                    outcome = (
                        "rejected"
                        if not approving
                        else "approved"
                        if proposal.status == ProposalStatus.APPROVED
                        else "approval recorded, waiting for more approvers"
                    )
                    self.message_user(
                        request, f"#{proposal.pk} {proposal.summary}: {outcome}.", messages.SUCCESS
                    )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Approve' if approving else 'Reject'} {len(proposals)} "
            f"proposal{'s' if len(proposals) != 1 else ''}",
            "opts": self.model._meta,
            "proposals": proposals,
            "form": form,
            "action": "approve_selected" if approving else "reject_selected",
            "approving": approving,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/governance/pendingproposal/decide.html", context)


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


DECISION_FIELDS = ("decision", "reason", "password")


@admin.register(Exemption)
class ExemptionAdmin(admin.ModelAdmin):
    form = ExemptionAdminForm
    actions = None
    # Short columns so the list fits 1280 px beside the admin's sidebars; the studio column
    # only for who sees more than one studio (bug 7). The justification is on the change page.
    list_display = ("id", "studio", "capability", "owner", "expires", "requested_by", "state")
    list_display_links = ("id", "capability")
    list_select_related = ("studio", "capability", "requested_by")
    list_filter = (("studio", admin.RelatedOnlyFieldListFilter), "capability")
    search_fields = ("owner_id", "justification", "capability__id", "requested_by__username")
    search_help_text = "Search by owner, justification, capability or requester."

    def get_list_display(self, request: HttpRequest) -> Any:
        ids = self._studio_ids(request)
        if ids is not None and len(ids) == 1:
            return tuple(name for name in self.list_display if name != "studio")
        return self.list_display

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        ids = self._studio_ids(request)
        if ids is not None and len(ids) == 1:
            # No studio column for a one-studio admin: the title names the studio instead.
            studio = Studio.objects.get(pk=next(iter(ids)))
            extra_context = {**(extra_context or {}), "title": f"Exemptions of {studio.name}"}
        return super().changelist_view(request, extra_context)

    @admin.display(description="owner", ordering="owner_id")
    def owner(self, obj: Exemption) -> str:
        return obj.owner_id or "any owner"

    @admin.display(description="expires (UTC)", ordering="expires_at")
    def expires(self, obj: Exemption) -> str:
        return f"{obj.expires_at:%d %b %H:%M}" if obj.expires_at else "—"

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
        adding = obj is None
        if not adding:
            kwargs["fields"] = DECISION_FIELDS
        else:
            kwargs["fields"] = ExemptionAdminForm.Meta.fields
        form = super().get_form(request, obj, change=change, **kwargs)

        class RequestForm(form):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, **inner)
                self.request = request
                if adding:
                    # A request is only a request: the decision (by another admin) is made on
                    # the change page through exemption_approve. Declared fields survive
                    # ``fields=``, so they go here, or the add form offers a Decision it
                    # ignores (bug 7).
                    for name in DECISION_FIELDS:
                        self.fields.pop(name, None)

        return RequestForm

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ExemptionAdminForm.Meta.fields
        return super().get_fields(request, obj)

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
