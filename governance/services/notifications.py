"""Governance's side of notifications: what its events say and who may act on them, the
expiring-proposal scan, and the two settings staff change on the Notifications page.

The hooks (``notify_proposal_submitted``, ``notify_kill_switch_changed``) are called from
inside the services that cause them, so the event is written in the same transaction and
fanned out only after it commits (``brain.notify``). Nothing a notification carries can
approve anything: it names the thing and links to its cockpit page.

``notification_preferences_set`` and ``webhook_endpoint_set`` are audited in the studio's
chain; the webhook's secret is the *name* of an environment variable, so no secret is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.urls import reverse
from django.utils import timezone

from brain import notify
from brain.models import Role, Studio
from brain.notify.models import (
    Channel,
    EventKind,
    NotificationPreference,
    Severity,
    WebhookEndpoint,
)
from connectors.sdk.secrets import ENV_NAME_RE
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType, KillSwitchEventKind, ProposalStatus, Risk
from governance.errors import Denied
from governance.models import KillSwitch, KillSwitchEvent, Proposal
from governance.reasons import ReasonCode
from governance.services.common import Target, governed, require_role

# docs/notifications.md: "proposal expiring within 2 h".
EXPIRING_WITHIN = timedelta(hours=2)
DIGEST_LOW, DIGEST_HIGH = timedelta(minutes=5), timedelta(days=1)


def _proposal_path(proposal: Proposal) -> str:
    return reverse(
        "cockpit:proposal_detail",
        kwargs={"studio": proposal.studio.slug, "proposal_id": proposal.pk},
    )


def _proposal_severity(risk: int) -> Severity:
    if risk >= Risk.CRITICAL:
        return Severity.CRITICAL
    if risk >= Risk.HIGH:
        return Severity.HIGH
    return Severity.NORMAL


def notify_proposal_submitted(proposal: Proposal) -> None:
    """A proposal entered the approval queue: tell the approvers (never its requester)."""
    risk = Risk(proposal.risk).label
    notify.emit(
        studio_id=proposal.studio_id,
        kind=EventKind.PROPOSAL_NEEDS_APPROVAL,
        severity=_proposal_severity(proposal.risk),
        title=f"Proposal #{proposal.pk} needs approval: {proposal.summary}"[:200],
        body=f"{risk.capitalize()} risk, {proposal.capability_id}; "
        f"needs {proposal.approvals_required} approval"
        f"{'s' if proposal.approvals_required != 1 else ''}. Rationale: {proposal.rationale}"[:600],
        link_path=_proposal_path(proposal),
        min_role=Role.APPROVER,
        exclude_user_id=proposal.requested_by_user_id,
        dedupe_key=f"proposal:{proposal.pk}:submitted:{proposal.decision_round}",
    )


def notify_expiring_proposals(*, now: datetime | None = None) -> int:
    """Pending proposals that expire within two hours, once per proposal and decision round."""
    now = now or timezone.now()
    emitted = 0
    due = Proposal.objects.filter(
        status=ProposalStatus.PENDING_APPROVAL,
        expires_at__gt=now,
        expires_at__lte=now + EXPIRING_WITHIN,
    ).select_related("studio")
    for proposal in due:
        assert proposal.expires_at is not None
        minutes = int((proposal.expires_at - now).total_seconds() // 60)
        event = notify.emit(
            studio_id=proposal.studio_id,
            kind=EventKind.PROPOSAL_EXPIRING,
            severity=Severity.HIGH,
            title=f"Proposal #{proposal.pk} expires in {minutes} minutes: {proposal.summary}"[:200],
            body="It expires without a decision unless an approver approves or rejects it.",
            link_path=_proposal_path(proposal),
            min_role=Role.APPROVER,
            exclude_user_id=proposal.requested_by_user_id,
            dedupe_key=f"proposal:{proposal.pk}:expiring:{proposal.decision_round}",
            occurred_at=now,
        )
        emitted += event is not None
    return emitted


def notify_kill_switch_changed(switch: KillSwitch, event: KillSwitchEvent) -> None:
    """Engaged or released: the operators of every studio it stops hear of it."""
    if event.kind == KillSwitchEventKind.ENGAGED:
        kind, severity, verb = EventKind.KILL_SWITCH_ENGAGED, Severity.CRITICAL, "engaged"
    elif event.kind == KillSwitchEventKind.RELEASE_CONFIRMED:
        kind, severity, verb = EventKind.KILL_SWITCH_RELEASED, Severity.HIGH, "released"
    else:
        return  # a release request changes nothing yet
    studios = (
        Studio.objects.filter(pk=switch.studio_id)
        if switch.studio_id is not None
        else Studio.objects.all()
    )
    for studio in studios:
        notify.emit(
            studio_id=studio.pk,
            kind=kind,
            severity=severity,
            title=f"Kill switch {verb}: {switch.label}",
            body=f"By {event.actor_label}: {event.reason}"[:600]
            + (" Executions it covers are stopped." if verb == "engaged" else ""),
            link_path=reverse("cockpit:policy", kwargs={"studio": studio.slug}) + "#kill-switches",
            min_role=Role.OPERATOR,
            exclude_user_id=event.user_id,
            dedupe_key=f"kill_switch_event:{event.pk}",
        )


# -- settings staff change ---------------------------------------------------------------------


def _clean_channels(studio_id: int, channels: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    kinds, known = set(EventKind.values), set(Channel.values)
    bad = [k for k in channels if k not in kinds] + [
        c for chosen in channels.values() for c in chosen if c not in known
    ]
    if bad:
        raise Denied(
            ReasonCode.INPUT_INVALID,
            f"Unknown event or channel: {', '.join(sorted(map(str, bad)))}.",
            studio_id=studio_id,
        )
    return {
        kind: sorted(set(chosen))
        for kind, chosen in sorted(channels.items())
        if chosen  # an event with no channel is simply off
    }


def notification_preferences_set(
    *,
    actor: Actor,
    studio: Studio,
    channels: Mapping[str, Sequence[str]],
    digest_interval: timedelta,
) -> NotificationPreference:
    """A member chooses what reaches them in ``studio`` and how often the digest comes.

    Any member may set their own; denies ACTOR_NOT_ALLOWED, TENANT_MISMATCH, INPUT_INVALID.
    Audited as ``notify.preferences_changed``.
    """

    def body() -> NotificationPreference:
        require_role(actor, studio_id=studio.pk, minimum=Role.VIEWER)
        cleaned = _clean_channels(studio.pk, channels)
        if not DIGEST_LOW <= digest_interval <= DIGEST_HIGH:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                "The digest comes at most every 5 minutes and at least once a day.",
                studio_id=studio.pk,
                field_errors={"digest_interval": ["Between 5 minutes and 1 day."]},
            )
        assert actor.user is not None
        pref, _ = NotificationPreference.objects.update_or_create(
            studio=studio,
            user=actor.user,
            defaults={
                "channels": cleaned,
                "digest_interval": digest_interval,
                "updated_at": timezone.now(),
            },
        )
        audit_append(
            studio=studio.pk,
            actor=actor,
            action="notify.preferences_changed",
            target_type="notification_preferences",
            target_id=actor.user.pk,
            metadata={
                "channels": cleaned,
                "digest_interval_s": int(digest_interval.total_seconds()),
            },
        )
        return pref

    return governed(
        "notify.preferences_denied",
        actor,
        body,
        target=Target("notification_preferences", studio_id=studio.pk),
    )


def _clean_url(studio_id: int, url: str) -> str:
    cleaned = (url or "").strip()
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(cleaned) > 500:
        raise Denied(
            ReasonCode.INPUT_INVALID,
            "The webhook address must be an http:// or https:// URL.",
            studio_id=studio_id,
            field_errors={"url": ["An http:// or https:// address, up to 500 characters."]},
        )
    return cleaned


def webhook_endpoint_set(
    *, actor: Actor, studio: Studio, url: str, secret_env: str, enabled: bool
) -> WebhookEndpoint:
    """An admin points the studio's notifications at a webhook, signed with the secret held in
    environment variable ``secret_env`` (never the secret itself).

    Denies ROLE_REQUIRED (admin), TENANT_MISMATCH, INPUT_INVALID. Audited as
    ``notify.webhook_changed`` with the address's host and the variable's name.
    """

    def body() -> WebhookEndpoint:
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        before = WebhookEndpoint.objects.select_for_update().filter(studio=studio).first()
        # The address may carry a token (Slack's do), so the page never shows it back:
        # left empty, the current one stays.
        kept = before is not None and not (url or "").strip()
        cleaned_url = before.url if kept and before else _clean_url(studio.pk, url)
        name = (secret_env or "").strip()
        if not ENV_NAME_RE.match(name):
            raise Denied(
                ReasonCode.INPUT_INVALID,
                "Name the environment variable that holds the secret, such as NOTIFY_WEBHOOK_SECRET.",
                studio_id=studio.pk,
                field_errors={
                    "secret_env": ["Capital letters, digits and underscores, e.g. SLACK_HMAC."]
                },
            )
        previous: dict[str, Any] | None = (
            {
                "host": urlsplit(before.url).netloc,
                "secret_env": before.secret_env,
                "enabled": before.enabled,
            }
            if before
            else None
        )
        endpoint, _ = WebhookEndpoint.objects.update_or_create(
            studio=studio,
            defaults={
                "url": cleaned_url,
                "secret_env": name,
                "enabled": enabled,
                "updated_at": timezone.now(),
                "updated_by": actor.user if actor.type == ActorType.STAFF else None,
            },
        )
        audit_append(
            studio=studio.pk,
            actor=actor,
            action="notify.webhook_changed",
            target_type="webhook",
            target_id=endpoint.pk,
            metadata={
                "before": previous,
                "after": {
                    "host": urlsplit(cleaned_url).netloc,
                    "secret_env": name,
                    "enabled": enabled,
                },
            },
        )
        return endpoint

    return governed(
        "notify.webhook_denied", actor, body, target=Target("webhook", studio_id=studio.pk)
    )
