"""The Django admin site: Django's own, also open to studio admins.

Studio members do in the admin what the product puts there (approvers: the pending
proposals; admins: exemptions too; see ``governance/admin.py``), for their own studios only, without being made superusers or
``is_staff``: their membership is the permission. Everything else in the admin still
needs Django's ``is_staff`` and model permissions, as usual.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from brain.models import Role
from brain.selectors import studio_ids_with_role


class StudioAdminSite(admin.AdminSite):
    site_header = "Studio Brain admin"
    site_title = "Studio Brain admin"

    def has_permission(self, request: HttpRequest) -> bool:
        if super().has_permission(request):
            return True
        # Approvers decide pending proposals here (governance.admin.PendingProposalAdmin),
        # admins also handle exemptions; each model admin scopes itself to their studios.
        return bool(studio_ids_with_role(request.user, Role.APPROVER))
