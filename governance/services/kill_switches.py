"""Kill switches: stop executions at once — everything, one studio, one capability or one
connector — and let them run again only when two admins agree.

A switch's state is derived from its append-only events (engaged, release requested,
release confirmed). Engaging is deliberately easy and immediate: any operator (of the
studio it covers; of any studio for a runtime-wide switch), an agent of the studio through
the API, or ``manage.py kill_switch on``. Releasing takes two distinct admins: one requests
with a rationale, another confirms that request with theirs. Studio and connector switches
are audited in their studio's chain, runtime-wide ones in the global chain. The execution
gateway reads the switches inside its transaction and the worker again right before it
writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from brain.models import Membership, Role, Studio
from connectors.models import ConnectorConfig
from governance.actors import Actor
from governance.audit import audit_append
from governance.capabilities import CAPABILITIES
from governance.enums import ActorType, KillSwitchEventKind, KillSwitchScope
from governance.errors import Denied
from governance.identity import ResolvedActor
from governance.models import KillSwitch, KillSwitchEvent
from governance.reasons import ReasonCode
from governance.selectors.execution import kill_switch_state
from governance.services.common import Target, governed, require_rationale
from governance.services.notifications import notify_kill_switch_changed


@dataclass(frozen=True)
class SwitchTarget:
    """What a switch covers, before its row exists."""

    scope: KillSwitchScope
    capability_id: str = ""
    studio_id: int | None = None
    connector_id: int | None = None
    label: str = ""


def switch_target(
    *,
    capability_id: str | None = None,
    studio: Studio | None = None,
    connector: ConnectorConfig | None = None,
) -> SwitchTarget:
    """The target named by at most one of ``capability_id``, ``studio``, ``connector``
    (none of them: global). A connector switch belongs to the connector's studio."""
    named = [value for value in (capability_id, studio, connector) if value]
    if len(named) > 1:
        raise Denied(
            ReasonCode.INPUT_INVALID,
            "A kill switch covers one thing: everything, a studio, a capability or a connector.",
        )
    if capability_id:
        if capability_id not in CAPABILITIES:
            raise Denied(
                ReasonCode.CAPABILITY_UNKNOWN, f"There is no capability {capability_id!r}."
            )
        return SwitchTarget(
            KillSwitchScope.CAPABILITY, capability_id=capability_id, label=capability_id
        )
    if studio is not None:
        return SwitchTarget(
            KillSwitchScope.STUDIO, studio_id=studio.pk, label=f"studio {studio.slug}"
        )
    if connector is not None:
        return SwitchTarget(
            KillSwitchScope.CONNECTOR,
            studio_id=connector.studio_id,
            connector_id=connector.pk,
            label=f"connector {connector.name}",
        )
    return SwitchTarget(KillSwitchScope.GLOBAL, label="global")


def target_of(switch: KillSwitch) -> SwitchTarget:
    return SwitchTarget(
        KillSwitchScope(switch.scope),
        capability_id=switch.capability_id,
        studio_id=switch.studio_id,
        connector_id=switch.connector_id,
        label=switch.label,
    )


def _require_role(actor: Actor | ResolvedActor, target: SwitchTarget, minimum: Role) -> None:
    """Staff need ``minimum`` in the target's studio (any studio for a runtime-wide switch);
    an agent may only engage, and only runtime-wide switches or its own studio's."""
    if isinstance(actor, ResolvedActor):
        if minimum > Role.OPERATOR:
            raise Denied(
                ReasonCode.ACTOR_NOT_ALLOWED, "Agents may engage a kill switch, not release one."
            )
        if target.studio_id is not None and target.studio_id != actor.studio.pk:
            raise Denied(
                ReasonCode.TENANT_MISMATCH, "Agents may only stop their own studio's work."
            )
        return
    if actor.type != ActorType.STAFF or actor.user is None:
        raise Denied(
            ReasonCode.ACTOR_NOT_ALLOWED,
            "Only staff (or an agent, through the API) can change a kill switch.",
        )
    if actor.user.is_superuser:
        return
    memberships = Membership.objects.filter(user=actor.user, role__gte=minimum)
    if target.studio_id is not None:
        memberships = memberships.filter(studio_id=target.studio_id)
    if not memberships.exists():
        where = "its studio" if target.studio_id is not None else "a studio"
        raise Denied(
            ReasonCode.ROLE_REQUIRED,
            f"Changing the {target.label} kill switch needs the {minimum.label} role in {where}.",
        )


def _locked_switch(target: SwitchTarget) -> KillSwitch:
    lookup: dict[str, Any] = {
        "scope": target.scope,
        "capability_id": target.capability_id,
        "studio_id": target.studio_id,
        "connector_id": target.connector_id,
    }
    KillSwitch.objects.get_or_create(**lookup, defaults={"created_at": timezone.now()})
    return (
        KillSwitch.objects.select_for_update(of=("self",))
        .select_related("studio", "connector")
        .prefetch_related("events")
        .get(**lookup)
    )


def _actor_fields(actor: Actor | ResolvedActor) -> dict[str, Any]:
    plain = actor.as_actor() if isinstance(actor, ResolvedActor) else actor
    return {
        "actor_type": plain.type,
        "actor_id": plain.id,
        "actor_label": plain.label,
        "user": plain.user,
    }


def _change(
    *,
    actor: Actor | ResolvedActor,
    reason: str,
    target: SwitchTarget,
    kind: KillSwitchEventKind,
) -> KillSwitchEvent:
    plain = actor.as_actor() if isinstance(actor, ResolvedActor) else actor

    def body() -> KillSwitchEvent:
        cleaned = require_rationale(reason, studio_id=target.studio_id)
        engaging = kind == KillSwitchEventKind.ENGAGED
        _require_role(actor, target, Role.OPERATOR if engaging else Role.ADMIN)
        switch = _locked_switch(target)
        engaged, pending = kill_switch_state(switch)
        request: KillSwitchEvent | None = None
        if engaging and engaged:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"The {switch.label} kill switch is already engaged.",
            )
        if not engaging and not engaged:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION, f"The {switch.label} kill switch is not engaged."
            )
        if kind == KillSwitchEventKind.RELEASE_REQUESTED and pending is not None:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"{pending.actor_label} already asked to release the {switch.label} kill "
                "switch; another admin confirms it.",
            )
        if kind == KillSwitchEventKind.RELEASE_CONFIRMED:
            if pending is None:
                raise Denied(
                    ReasonCode.ILLEGAL_TRANSITION,
                    f"Nobody asked to release the {switch.label} kill switch yet; an admin "
                    "requests it and a second admin confirms.",
                )
            if pending.actor_type == plain.type and pending.actor_id == plain.id:
                raise Denied(
                    ReasonCode.SELF_APPROVAL,
                    "The admin who asked for the release cannot also confirm it; a second "
                    "admin must.",
                )
            request = pending
        event = KillSwitchEvent.objects.create(
            switch=switch,
            kind=kind,
            reason=cleaned,
            request=request,
            occurred_at=timezone.now(),
            **_actor_fields(actor),
        )
        audit_append(
            studio=switch.chain_studio_id,
            actor=plain,
            action=f"kill_switch.{kind}",
            target_type="kill_switch",
            target_id=switch.label,
            reason_code=ReasonCode.BLOCKED_BY_POLICY if engaging else ReasonCode.ALLOWED,
            metadata={
                "scope": switch.scope,
                "capability": switch.capability_id,
                "connector": switch.connector_id,
                "switch": switch.pk,
                "event": event.pk,
                "request": request.pk if request else None,
                "reason": cleaned,
            },
        )
        notify_kill_switch_changed(switch, event)
        return event

    return governed(
        "kill_switch.denied",
        plain,
        body,
        target=Target("kill_switch", target.label, studio_id=target.studio_id),
        metadata={"attempted": str(kind)},
    )


def _target(
    actor: Actor | ResolvedActor,
    kind: KillSwitchEventKind,
    capability_id: str | None,
    studio: Studio | None,
    connector: ConnectorConfig | None,
) -> SwitchTarget:
    """The named target; a target that does not exist is a denial, audited like the others."""
    plain = actor.as_actor() if isinstance(actor, ResolvedActor) else actor
    return governed(
        "kill_switch.denied",
        plain,
        lambda: switch_target(capability_id=capability_id, studio=studio, connector=connector),
        target=Target("kill_switch", capability_id or "?"),
        metadata={"attempted": str(kind)},
    )


def kill_switch_engage(
    *,
    actor: Actor | ResolvedActor,
    reason: str,
    capability_id: str | None = None,
    studio: Studio | None = None,
    connector: ConnectorConfig | None = None,
) -> KillSwitch:
    """Stop everything, one studio, one capability or one connector, at once.

    Denies ACTOR_NOT_ALLOWED, ROLE_REQUIRED (operator), TENANT_MISMATCH (an agent naming
    another studio), RATIONALE_REQUIRED, CAPABILITY_UNKNOWN and ILLEGAL_TRANSITION
    (already engaged). Audited; a denial too.
    """
    event = _change(
        actor=actor,
        reason=reason,
        target=_target(actor, KillSwitchEventKind.ENGAGED, capability_id, studio, connector),
        kind=KillSwitchEventKind.ENGAGED,
    )
    return event.switch


def kill_switch_release_request(
    *,
    actor: Actor,
    reason: str,
    capability_id: str | None = None,
    studio: Studio | None = None,
    connector: ConnectorConfig | None = None,
    switch: KillSwitch | None = None,
) -> KillSwitchEvent:
    """An admin asks to release an engaged switch; it stays on until another admin confirms."""
    kind = KillSwitchEventKind.RELEASE_REQUESTED
    target = target_of(switch) if switch else _target(actor, kind, capability_id, studio, connector)
    return _change(actor=actor, reason=reason, target=target, kind=kind)


def kill_switch_release_confirm(
    *,
    actor: Actor,
    reason: str,
    capability_id: str | None = None,
    studio: Studio | None = None,
    connector: ConnectorConfig | None = None,
    switch: KillSwitch | None = None,
) -> KillSwitchEvent:
    """A second admin confirms the open release request: the switch is off from now.

    Denies SELF_APPROVAL (the requester), ILLEGAL_TRANSITION (no open request, not engaged)
    and as ``kill_switch_engage`` otherwise.
    """
    kind = KillSwitchEventKind.RELEASE_CONFIRMED
    target = target_of(switch) if switch else _target(actor, kind, capability_id, studio, connector)
    return _change(actor=actor, reason=reason, target=target, kind=kind)
