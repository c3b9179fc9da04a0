"""Cockpit → Notifications: what reaches me (events x channels, digest), the studio's webhook
(admins), and the delivery log with its failures.

Each view parses input, calls one service and renders; a form error or a denial re-renders
the page with the error in place (422). Nothing on this page approves anything: messages
only link back to the cockpit.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from brain.models import Role
from brain.notify.models import DeliveryStatus
from brain.notify.selectors import (
    delivery_counts,
    delivery_log,
    preference_get,
    webhook_endpoint_get,
)
from brain.notify.services import email_enabled, notify_delivery_retry, preference_or_default
from cockpit.access import StudioRequest, studio_view
from cockpit.forms.notifications import PreferencesForm, WebhookForm
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.secrets import resolve_secrets
from governance.actors import Actor
from governance.errors import Denied
from governance.services.notifications import notification_preferences_set, webhook_endpoint_set


def _secret_is_set(name: str) -> bool:
    try:
        resolve_secrets({"secret": name})
    except ConfigurationError:
        return False
    return True


def _context(
    request: StudioRequest,
    *,
    preferences: PreferencesForm | None = None,
    webhook: WebhookForm | None = None,
) -> dict[str, Any]:
    studio, user = request.studio, request.user
    user_id = cast(int, user.pk)  # studio_view: signed in
    pref = preference_or_default(
        preference_get(studio.pk, user_id), studio_id=studio.pk, user_id=user_id
    )
    endpoint = webhook_endpoint_get(studio.pk)
    if webhook is None:
        initial = (
            {"secret_env": endpoint.secret_env, "enabled": endpoint.enabled}
            if endpoint
            else {"enabled": True}
        )
        webhook = WebhookForm(initial=initial)
    counts = delivery_counts(studio.pk)
    return {
        "active": "notifications",
        "preferences": preferences or PreferencesForm(initial=PreferencesForm.initial_from(pref)),
        "has_saved_preferences": pref.pk is not None,
        "webhook": webhook,
        "endpoint": endpoint,
        "endpoint_host": urlsplit(endpoint.url).netloc if endpoint else "",
        "secret_set": _secret_is_set(endpoint.secret_env) if endpoint else False,
        "is_admin": request.membership.has_role(Role.ADMIN),
        "can_retry": request.membership.has_role(Role.OPERATOR),
        "email_enabled": email_enabled(),
        "my_email": getattr(user, "email", ""),
        "log": delivery_log(studio.pk),
        "counts": counts,
        "failed": delivery_log(studio.pk, failed_only=True) if counts["failed"] else [],
        "FAILED": DeliveryStatus.FAILED,
        "RETRYING": DeliveryStatus.RETRYING,
    }


@require_GET
@studio_view()
def notifications(request: StudioRequest) -> HttpResponse:
    context = _context(request)
    if request.htmx:
        return render(request, "cockpit/notifications.html#delivery-log", context)
    return render(request, "cockpit/notifications.html", context)


def _back(request: StudioRequest, section: str) -> HttpResponse:
    return redirect(f"{reverse('cockpit:notifications', args=[request.studio.slug])}#{section}")


@require_POST
@studio_view()
def notifications_preferences(request: StudioRequest) -> HttpResponse:
    """The member's own choices for this studio."""
    form = PreferencesForm(request.POST)
    if form.is_valid():
        try:
            notification_preferences_set(
                actor=Actor.staff(request.user),
                studio=request.studio,
                channels=form.channels(),
                digest_interval=form.digest(),
            )
        except Denied as denial:
            field = next((f for f in denial.field_errors if f in form.fields), None)
            form.add_error(field, f"{denial.message} ({denial.code})")
        else:
            messages.success(request, "Saved: these notifications reach you from now on.")
            return _back(request, "preferences")
    return render(
        request, "cockpit/notifications.html", _context(request, preferences=form), status=422
    )


@require_POST
@studio_view(minimum=Role.ADMIN)
def notifications_webhook(request: StudioRequest) -> HttpResponse:
    """The studio's webhook address and the name of the variable holding its secret."""
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            webhook_endpoint_set(
                actor=Actor.staff(request.user),
                studio=request.studio,
                url=form.cleaned_data["url"],
                secret_env=form.cleaned_data["secret_env"],
                enabled=form.cleaned_data["enabled"],
            )
        except Denied as denial:
            field = next((f for f in denial.field_errors if f in form.fields), None)
            form.add_error(field, f"{denial.message} ({denial.code})")
        else:
            messages.success(request, "Webhook saved.")
            return _back(request, "webhook")
    return render(
        request, "cockpit/notifications.html", _context(request, webhook=form), status=422
    )


@require_POST
@studio_view(minimum=Role.OPERATOR)
def notifications_retry(request: StudioRequest, delivery_id: int) -> HttpResponse:
    """Send a failed delivery again (from its first attempt)."""
    if notify_delivery_retry(studio_id=request.studio.pk, delivery_id=delivery_id) is None:
        raise Http404("No such failed delivery.")
    messages.info(request, "Sending it again; the log below shows how it goes.")
    if request.htmx:
        return render(request, "cockpit/notifications.html#delivery-log", _context(request))
    return _back(request, "deliveries")
