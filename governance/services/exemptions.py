"""Exemptions: request, approve (a second admin), revoke. State changes are appended events.

An exemption lets one capability run in one studio (optionally for one owner) without a
per-proposal approval until it expires. It is narrow on purpose: justification of at
least 10 characters, an expiry no further than BRAIN_EXEMPTION_MAX_DAYS ahead, approval by
an admin other than the requester, and never for a high or critical risk write.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from brain.models import Role, Studio
from governance.actors import Actor
from governance.audit import audit_append
from governance.capabilities import CapabilityUnknown, capability_spec
from governance.errors import Denied
from governance.models import (
    Exemption,
    ExemptionEvent,
    ExemptionEventKind,
    ExemptionState,
)
from governance.reasons import ReasonCode
from governance.selectors.policy import capability_is_exemptable, exemption_state
from governance.services.common import Target, governed, require_rationale, require_role

OWNER_MAX = 128


def _audit(exemption: Exemption, actor: Actor, action: str, **metadata: object) -> None:
    audit_append(
        studio=exemption.studio_id,
        actor=actor,
        action=action,
        target_type="exemption",
        target_id=exemption.pk,
        approval_state=str(metadata.pop("state", "")),
        reason_code=ReasonCode.ALLOWED,
        metadata={
            "capability": exemption.capability_id,
            "owner": exemption.owner_id,
            "expires_at": exemption.expires_at,
            **metadata,
        },
    )


def exemption_request(
    *,
    studio: Studio,
    capability_id: str,
    justification: str,
    expires_at: datetime | None,
    actor: Actor,
    owner_id: str = "",
) -> Exemption:
    """Ask for an exemption (approver role or above). It does nothing until another admin
    approves it.

    Denies CAPABILITY_UNKNOWN, EXEMPTION_NOT_ALLOWED (high/critical writes),
    RATIONALE_REQUIRED (justification), INPUT_INVALID (expiry missing, past, or beyond
    BRAIN_EXEMPTION_MAX_DAYS), ROLE_REQUIRED and TENANT_MISMATCH.
    """

    def body() -> Exemption:
        try:
            spec = capability_spec(capability_id)
        except CapabilityUnknown:
            raise Denied(
                ReasonCode.CAPABILITY_UNKNOWN,
                f"There is no capability {capability_id!r}.",
                studio_id=studio.pk,
                field_errors={"capability": ["Unknown capability."]},
            ) from None
        require_role(actor, studio_id=studio.pk, minimum=Role.APPROVER)
        if not capability_is_exemptable(spec.id):
            raise Denied(
                ReasonCode.EXEMPTION_NOT_ALLOWED,
                f"{spec.id} is a {spec.risk.label} risk write: it can never be exempted from "
                "approval.",
                studio_id=studio.pk,
                field_errors={"capability": ["High and critical risk writes cannot be exempted."]},
            )
        cleaned = require_rationale(justification, studio_id=studio.pk)
        now = timezone.now()
        _check_expiry(expires_at, now, studio.pk)
        assert expires_at is not None
        owner = (owner_id or "").strip()
        if len(owner) > OWNER_MAX:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                f"The owner id is longer than {OWNER_MAX} characters.",
                studio_id=studio.pk,
                field_errors={"owner_id": [f"At most {OWNER_MAX} characters."]},
            )
        exemption = Exemption.objects.create(
            studio=studio,
            capability_id=spec.id,
            owner_id=owner,
            justification=cleaned,
            expires_at=expires_at,
            requested_by=actor.user,
            created_at=now,
        )
        ExemptionEvent.objects.create(
            exemption=exemption,
            kind=ExemptionEventKind.REQUESTED,
            actor=actor.user,
            reason=cleaned,
            occurred_at=now,
        )
        _audit(
            exemption,
            actor,
            "exemption.requested",
            state=ExemptionState.PENDING,
            justification=cleaned,
        )
        return exemption

    return governed(
        "exemption.request_denied",
        actor,
        body,
        metadata={"capability": capability_id, "owner": owner_id},
        target=Target("exemption"),
    )


def _check_expiry(expires_at: datetime | None, now: datetime, studio_id: int) -> None:
    max_days = settings.BRAIN.exemption_max_days
    problem = ""
    if expires_at is None:
        problem = "An expiry time is required."
    elif expires_at.tzinfo is None:
        problem = "The expiry time needs a time zone."
    elif expires_at <= now:
        problem = "The expiry time is in the past."
    elif expires_at > now + timedelta(days=max_days):
        problem = f"An exemption may run at most {max_days} days (BRAIN_EXEMPTION_MAX_DAYS)."
    if problem:
        raise Denied(
            ReasonCode.INPUT_INVALID,
            problem,
            studio_id=studio_id,
            field_errors={"expires_at": [problem]},
        )


def _lock(exemption_id: int, studio_id: int) -> Exemption:
    exemption = (
        Exemption.objects.select_for_update()
        .filter(pk=exemption_id, studio_id=studio_id)
        .prefetch_related("events")
        .first()
    )
    if exemption is None:
        raise Denied(
            ReasonCode.TENANT_MISMATCH,
            f"There is no exemption #{exemption_id} in this studio.",
            studio_id=studio_id,
        )
    return exemption


def exemption_approve(*, studio: Studio, exemption_id: int, actor: Actor) -> ExemptionEvent:
    """A studio admin other than the requester approves a pending exemption.

    Denies ROLE_REQUIRED, SELF_APPROVAL, ILLEGAL_TRANSITION (not pending: already approved,
    revoked or expired) and EXEMPTION_NOT_ALLOWED (the capability became high risk since).
    """

    def body() -> ExemptionEvent:
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        exemption = _lock(exemption_id, studio.pk)
        now = timezone.now()
        state = exemption_state(exemption, now)
        if state != ExemptionState.PENDING:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"Exemption #{exemption.pk} is {state.label}: only a pending one can be approved.",
                studio_id=studio.pk,
                detail={"target_id": exemption.pk, "state": str(state)},
            )
        if exemption.requested_by_id == actor.user.pk:
            raise Denied(
                ReasonCode.SELF_APPROVAL,
                "An exemption must be approved by an admin other than the one who requested it.",
                studio_id=studio.pk,
                detail={"target_id": exemption.pk},
            )
        if not capability_is_exemptable(exemption.capability_id):
            raise Denied(
                ReasonCode.EXEMPTION_NOT_ALLOWED,
                studio_id=studio.pk,
                detail={"target_id": exemption.pk},
            )
        try:
            with transaction.atomic():
                event = ExemptionEvent.objects.create(
                    exemption=exemption,
                    kind=ExemptionEventKind.APPROVED,
                    actor=actor.user,
                    occurred_at=now,
                )
        except IntegrityError:  # a concurrent approval won; the row lock makes this rare
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"Exemption #{exemption.pk} was approved already.",
                studio_id=studio.pk,
                detail={"target_id": exemption.pk},
            ) from None
        _audit(
            exemption,
            actor,
            "exemption.approved",
            state=ExemptionState.ACTIVE,
            requested_by=exemption.requested_by_id,
        )
        return event

    return governed(
        "exemption.approve_denied", actor, body, target=Target("exemption", exemption_id)
    )


def exemption_revoke(
    *, studio: Studio, exemption_id: int, actor: Actor, reason: str
) -> ExemptionEvent:
    """A studio admin ends a pending or active exemption now, with a reason (history stays).

    Denies RATIONALE_REQUIRED, ROLE_REQUIRED and ILLEGAL_TRANSITION (already revoked or expired).
    """

    def body() -> ExemptionEvent:
        cleaned = require_rationale(reason, studio_id=studio.pk)
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        exemption = _lock(exemption_id, studio.pk)
        now = timezone.now()
        state = exemption_state(exemption, now)
        if state in (ExemptionState.REVOKED, ExemptionState.EXPIRED):
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"Exemption #{exemption.pk} is {state.label} already.",
                studio_id=studio.pk,
                detail={"target_id": exemption.pk, "state": str(state)},
            )
        event = ExemptionEvent.objects.create(
            exemption=exemption,
            kind=ExemptionEventKind.REVOKED,
            actor=actor.user,
            reason=cleaned,
            occurred_at=now,
        )
        _audit(
            exemption,
            actor,
            "exemption.revoked",
            state=ExemptionState.REVOKED,
            reason=cleaned,
            was=str(state),
        )
        return event

    return governed(
        "exemption.revoke_denied", actor, body, target=Target("exemption", exemption_id)
    )
