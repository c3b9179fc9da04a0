"""Kill switches: stop every execution, or every execution of one capability, at once.

A switch is runtime-wide (it is not a studio's setting), so its events go to the global
audit chain. Engaging is deliberately easy (any operator of any studio: stopping is always
safe); releasing needs an admin. The execution gateway reads the switch inside its
transaction and the worker reads it again right before it writes.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from brain.models import Membership, Role
from governance.actors import Actor
from governance.audit import audit_append
from governance.capabilities import CAPABILITIES
from governance.enums import ActorType, KillSwitchScope
from governance.errors import Denied
from governance.models import KillSwitch
from governance.reasons import ReasonCode
from governance.services.common import require_rationale


def _label(capability_id: str | None) -> str:
    return capability_id or "global"


def _require_runtime_role(actor: Actor, minimum: Role) -> None:
    """Staff with ``minimum`` in at least one studio (or a superuser); a switch is runtime-wide."""
    if actor.type != ActorType.STAFF or actor.user is None:
        raise Denied(ReasonCode.ACTOR_NOT_ALLOWED, "Only staff members can change a kill switch.")
    if actor.user.is_superuser:
        return
    if not Membership.objects.filter(user=actor.user, role__gte=minimum).exists():
        raise Denied(
            ReasonCode.ROLE_REQUIRED,
            f"Changing this kill switch needs the {minimum.label} role in a studio.",
        )


def _locked_switch(capability_id: str | None) -> KillSwitch:
    scope = KillSwitchScope.CAPABILITY if capability_id else KillSwitchScope.GLOBAL
    KillSwitch.objects.get_or_create(
        scope=scope,
        capability_id=capability_id or "",
        defaults={"updated_at": timezone.now()},
    )
    return KillSwitch.objects.select_for_update().get(
        scope=scope, capability_id=capability_id or ""
    )


def _audit_denial(denial: Denied, actor: Actor, capability_id: str | None, verb: str) -> None:
    with transaction.atomic():
        audit_append(
            studio=None,
            actor=actor,
            action="kill_switch.denied",
            target_type="kill_switch",
            target_id=_label(capability_id),
            reason_code=denial.code,
            metadata={"message": denial.message, "attempted": verb},
        )


def _change(*, actor: Actor, reason: str, capability_id: str | None, engage: bool) -> KillSwitch:
    verb = "engage" if engage else "release"
    try:
        with transaction.atomic():
            if capability_id is not None and capability_id not in CAPABILITIES:
                raise Denied(
                    ReasonCode.CAPABILITY_UNKNOWN, f"There is no capability {capability_id!r}."
                )
            cleaned = require_rationale(reason, studio_id=None)
            _require_runtime_role(actor, Role.OPERATOR if engage else Role.ADMIN)
            switch = _locked_switch(capability_id)
            if switch.engaged == engage:
                raise Denied(
                    ReasonCode.ILLEGAL_TRANSITION,
                    f"The {switch.label} kill switch is already "
                    f"{'engaged' if engage else 'released'}.",
                )
            now = timezone.now()
            switch.engaged = engage
            switch.reason = cleaned
            switch.updated_at = now
            if engage:
                switch.engaged_by = actor.user
                switch.engaged_at = now
                switch.released_by = None
                switch.released_at = None
            else:
                switch.released_by = actor.user
                switch.released_at = now
            switch.save()
            metadata: dict[str, Any] = {
                "scope": switch.scope,
                "capability": switch.capability_id,
                "reason": cleaned,
            }
            audit_append(
                studio=None,
                actor=actor,
                action=f"kill_switch.{'engaged' if engage else 'released'}",
                target_type="kill_switch",
                target_id=switch.label,
                reason_code=ReasonCode.BLOCKED_BY_POLICY if engage else ReasonCode.ALLOWED,
                metadata=metadata,
            )
            return switch
    except Denied as denial:
        _audit_denial(denial, actor, capability_id, verb)
        raise


def kill_switch_engage(
    *, actor: Actor, reason: str, capability_id: str | None = None
) -> KillSwitch:
    """Stop every execution (``capability_id`` None) or those of one capability.

    Denies ACTOR_NOT_ALLOWED, ROLE_REQUIRED (operator), RATIONALE_REQUIRED,
    CAPABILITY_UNKNOWN and ILLEGAL_TRANSITION (already engaged). Audited in the global chain.
    """
    return _change(actor=actor, reason=reason, capability_id=capability_id, engage=True)


def kill_switch_release(
    *, actor: Actor, reason: str, capability_id: str | None = None
) -> KillSwitch:
    """Let executions run again. Needs an admin; otherwise as ``kill_switch_engage``."""
    return _change(actor=actor, reason=reason, capability_id=capability_id, engage=False)
