"""Authentication and admin changes, recorded in the audit chain.

Logins, logouts and failed logins belong to no studio: they go to the global chain
(studio NULL). Changes made through the Django admin go to the chain of the studio they
concern (a Studio or a Membership) and otherwise to the global chain. See ADR 0003.

The login also stamps the session with the time of authentication, which "sudo mode"
(re-authentication before high-risk approvals) compares against.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_save
from django.http import HttpRequest
from django.utils import timezone

from governance.actors import Actor
from governance.audit import audit_append

AUTHENTICATED_AT_SESSION_KEY = "brain_authenticated_at"
# When this session last proved a passkey (a studio that requires passkeys counts only this).
PASSKEY_AT_SESSION_KEY = "brain_passkey_at"
ADMIN_ACTIONS = {ADDITION: "admin.added", CHANGE: "admin.changed", DELETION: "admin.deleted"}


def request_client(request: HttpRequest | None) -> dict[str, str]:
    """Where a request came from, for audit metadata: address and (shortened) user agent."""
    return _client(request)


def _client(request: HttpRequest | None) -> dict[str, str]:
    if request is None:
        return {}
    return {
        "ip": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.headers.get("User-Agent", "")[:200],
    }


def mark_session_authenticated(request: HttpRequest, *, at: datetime | None = None) -> None:
    request.session[AUTHENTICATED_AT_SESSION_KEY] = (at or timezone.now()).isoformat()


def session_authenticated_within(
    request: HttpRequest, window: timedelta, *, key: str = AUTHENTICATED_AT_SESSION_KEY
) -> bool:
    """Whether this session proved the password or a passkey within ``window`` (login or
    re-authentication); with ``key=PASSKEY_AT_SESSION_KEY``, a passkey only."""
    raw = request.session.get(key)
    if not raw:
        return False
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return False
    return timezone.now() - at <= window


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    with transaction.atomic():
        audit_append(
            studio=None,
            actor=Actor.staff(user),
            action="auth.login",
            target_type="user",
            target_id=user.pk,
            metadata={"username": user.get_username(), **_client(request)},
        )
    if request is not None and hasattr(request, "session"):
        mark_session_authenticated(request)


def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if user is None:
        return
    with transaction.atomic():
        audit_append(
            studio=None,
            actor=Actor.staff(user),
            action="auth.logout",
            target_type="user",
            target_id=user.pk,
            metadata={"username": user.get_username(), **_client(request)},
        )


def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    # Django has already replaced the password in ``credentials``; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    with transaction.atomic():
        audit_append(
            studio=None,
            actor=Actor.system("auth"),
            action="auth.login_failed",
            target_type="user",
            target_id="",
            reason_code="AUTH_FAILED",
            metadata={"username": username, **_client(request)},
        )


def _admin_change(sender: Any, instance: LogEntry, created: bool, **_: Any) -> None:
    if not created:
        return
    studio_id = _studio_of(instance)
    with transaction.atomic():
        audit_append(
            studio=studio_id,
            actor=Actor.staff(instance.user),
            action=ADMIN_ACTIONS.get(instance.action_flag, "admin.logged"),
            target_type=f"{instance.content_type.app_label}.{instance.content_type.model}"
            if instance.content_type
            else "",
            target_id=instance.object_id or "",
            metadata={"object": instance.object_repr, "change": instance.get_change_message()},
        )


def _studio_of(entry: LogEntry) -> int | None:
    content_type = entry.content_type
    if content_type is None or content_type.app_label != "brain" or not entry.object_id:
        return None
    if content_type.model == "studio":
        return int(entry.object_id)
    if content_type.model == "membership":
        from brain.models import Membership

        return (
            Membership.objects.filter(pk=entry.object_id)
            .values_list("studio_id", flat=True)
            .first()
        )
    return None


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="governance.audit_login")
    user_logged_out.connect(_logged_out, dispatch_uid="governance.audit_logout")
    user_login_failed.connect(_login_failed, dispatch_uid="governance.audit_login_failed")
    post_save.connect(_admin_change, sender=LogEntry, dispatch_uid="governance.audit_admin_change")


def session_reauthenticated(request: HttpRequest, *, method: str = "password") -> None:
    """The staff member proved who they are again (sudo mode) with their password or a passkey:
    audit it and stamp the session."""
    user = request.user
    with transaction.atomic():
        audit_append(
            studio=None,
            actor=Actor.staff(user),
            action="auth.reauthenticated",
            target_type="user",
            target_id=str(user.pk),
            metadata={"username": user.get_username(), "method": method, **_client(request)},
        )
    mark_session_authenticated(request)
    if method == "passkey":
        request.session[PASSKEY_AT_SESSION_KEY] = request.session[AUTHENTICATED_AT_SESSION_KEY]
