"""Governance in the Django admin: look, never touch.

Capabilities come from code, proposals change only through the services (which audit),
and the audit chain is append-only: nobody, superuser included, adds, changes or
deletes any of these rows here, and there are no bulk actions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from governance.models import (
    Approval,
    AuditChainHead,
    AuditDigest,
    AuditEvent,
    Capability,
    Execution,
    KillSwitch,
    Proposal,
)


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
    """Read-only here: engage and release through `manage.py kill_switch`, which audits."""

    list_display = ("label", "engaged", "reason", "engaged_by", "engaged_at", "released_at")
    list_select_related = ("engaged_by",)


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
