"""Delegations: local grants and revocations, and the decision every agent action goes through.

Cloud delegations arrive through ``agents_sync_from_mirror``. A local revocation is its own
row: the sync never reads or writes it, so it wins over anything the cloud says later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from brain.models import Role, Studio
from governance.actors import Actor
from governance.audit import audit_append
from governance.errors import Denied, PendingDecision
from governance.identity import ResolvedActor
from governance.models import (
    AgentClient,
    AgentSource,
    DecisionKind,
    Delegation,
    DelegationRevocation,
)
from governance.policies.decision import Decision
from governance.policies.delegation import evaluate_delegation, scope_is_valid
from governance.reasons import ReasonCode
from governance.selectors.policy import delegation_facts
from governance.services.common import Target, governed, require_rationale, require_role
from governance.services.decisions import decision_store


def _audit(delegation: Delegation, actor: Actor, action: str, **metadata: Any) -> None:
    audit_append(
        studio=delegation.studio_id,
        actor=actor,
        action=action,
        target_type="delegation",
        target_id=delegation.pk,
        reason_code=ReasonCode.ALLOWED,
        metadata={
            "agent": delegation.agent_id,
            "owner": delegation.owner_id,
            "scopes": delegation.scopes,
            "source": delegation.source,
            **metadata,
        },
    )


def delegation_create_local(
    *,
    studio: Studio,
    agent_pk: int,
    scopes: Iterable[str],
    expires_at: datetime,
    actor: Actor,
) -> Delegation:
    """A studio admin delegates to a local agent on their own behalf (they are the owner).

    Cloud agents get their delegations in the cloud app; only local agents get them here.
    The grant lasts at most BRAIN_AGENT_TOKEN_TTL.
    """

    def body() -> Delegation:
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        agent = AgentClient.objects.filter(studio=studio, pk=agent_pk).first()
        if agent is None or agent.source != AgentSource.LOCAL:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                "Delegations to cloud agents are made in the cloud app; here only to local agents.",
                studio_id=studio.pk,
                field_errors={"agent": ["Choose a local agent of this studio."]},
            )
        cleaned = sorted({scope.strip() for scope in scopes if scope.strip()})
        bad = [scope for scope in cleaned if not scope_is_valid(scope)]
        if not cleaned or bad:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                "Scopes look like capability:<id>:execute or capability:*:execute"
                + (f" (not {', '.join(bad)})." if bad else "."),
                studio_id=studio.pk,
                field_errors={"scopes": ["capability:<id>:execute or capability:*:execute"]},
            )
        now = timezone.now()
        longest = settings.BRAIN.agent_token_ttl
        if expires_at is None or expires_at <= now or expires_at > now + longest:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                f"A delegation ends in the future and at most {longest.days} days from now.",
                studio_id=studio.pk,
                field_errors={"expires_at": ["In the future, within the token lifetime."]},
            )
        delegation = Delegation.objects.create(
            studio=studio,
            source=AgentSource.LOCAL,
            agent_id=agent.agent_id,
            owner_id=actor.user.get_username(),
            scopes=cleaned,
            issued_at=now,
            expires_at=expires_at,
            created_by=actor.user,
            created_at=now,
        )
        _audit(delegation, actor, "delegation.created", expires_at=expires_at)
        return delegation

    return governed("delegation.create_denied", actor, body, target=Target("delegation"))


def delegation_revoke_local(
    *, studio: Studio, delegation_id: int, actor: Actor, reason: str
) -> DelegationRevocation:
    """Revoke a delegation here, now, with a reason. No later cloud refresh can undo it."""

    def body() -> DelegationRevocation:
        cleaned = require_rationale(reason, studio_id=studio.pk)
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        delegation = (
            Delegation.objects.select_for_update().filter(studio=studio, pk=delegation_id).first()
        )
        if delegation is None:
            raise Denied(
                ReasonCode.TENANT_MISMATCH,
                f"There is no delegation #{delegation_id} in this studio.",
                studio_id=studio.pk,
            )
        try:
            with transaction.atomic():
                revocation = DelegationRevocation.objects.create(
                    delegation=delegation,
                    revoked_by=actor.user,
                    reason=cleaned,
                    revoked_at=timezone.now(),
                )
        except IntegrityError:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"Delegation #{delegation.pk} is revoked here already.",
                studio_id=studio.pk,
                detail={"target_id": delegation.pk},
            ) from None
        _audit(delegation, actor, "delegation.revoked_locally", reason=cleaned)
        return revocation

    return governed(
        "delegation.revoke_denied", actor, body, target=Target("delegation", delegation_id)
    )


def delegation_pending(
    *,
    actor: ResolvedActor,
    capability_id: str,
    resource_owner_id: str,
    at: datetime | None = None,
    delegation_id: int | None = None,
    proposal_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> PendingDecision:
    """May ``actor`` use ``capability_id`` on ``resource_owner_id``'s resources at ``at``?

    The decision with its trace (see ``governance.policies.delegation`` for the checks and
    the DELEGATION_* codes), not stored yet: its audit action is ``delegation.allowed`` /
    ``delegation.denied``. One query.
    """
    at = at or timezone.now()
    facts = (
        delegation_facts(actor.studio.pk, actor.actor_id, presented_id=delegation_id)
        if actor.actor_type == "agent"
        else []
    )
    decision = evaluate_delegation(
        actor_type=str(actor.actor_type),
        actor_id=actor.actor_id,
        capability_id=capability_id,
        resource_owner_id=resource_owner_id,
        at=at,
        delegations=facts,
        presented_delegation_id=delegation_id,
    )
    return PendingDecision(
        decision=decision,
        studio_id=actor.studio.pk,
        kind=DecisionKind.DELEGATION,
        actor=actor.as_actor(),
        audit_action=f"delegation.{'allowed' if decision.allowed else 'denied'}",
        capability_id=capability_id,
        resource_owner_id=resource_owner_id,
        delegation_id=decision.detail.get("delegation_id"),
        proposal_id=proposal_id,
        metadata=metadata or {},
    )


def delegation_decision(
    *,
    actor: ResolvedActor,
    capability_id: str,
    resource_owner_id: str,
    at: datetime | None = None,
    delegation_id: int | None = None,
    proposal_id: int | None = None,
) -> Decision:
    """``delegation_pending``, stored and audited in the caller's transaction;
    ``detail["decision_id"]`` names the stored row."""
    pending = delegation_pending(
        actor=actor,
        capability_id=capability_id,
        resource_owner_id=resource_owner_id,
        at=at,
        delegation_id=delegation_id,
        proposal_id=proposal_id,
    )
    row = decision_store(pending)
    return dataclasses.replace(
        pending.decision, detail={**pending.decision.detail, "decision_id": row.pk}
    )


DEFAULT_LOCAL_DELEGATION = timedelta(days=30)
