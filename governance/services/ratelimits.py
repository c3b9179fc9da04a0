"""Quotas and endpoint rate limits: consume a slot, or deny with RATE_LIMITED and Retry-After.

Every denial is stored as a decision with its trace and audited (``rate_limit_triggered``,
or ``rate_limit_unavailable`` when Redis cannot be reached — the fail-safe denial for
anything that counts against a limit). Allowed calls are not stored: they are the normal
case, and the call they allow is audited by its own service.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.db import transaction

from brain.models import Role, Studio
from governance.actors import Actor
from governance.audit import audit_append
from governance.capabilities import CapabilityUnknown, capability_spec
from governance.errors import Denied, PendingDecision
from governance.models import DecisionKind
from governance.policies.decision import ALLOWED, Decision, TraceStep
from governance.ratelimit import (
    Endpoint,
    Limit,
    RateLimitUnavailable,
    endpoint_limit,
    limiter_hit,
    limiter_reset,
    parse_key,
    quota_limit,
    window_words,
)
from governance.reasons import ReasonCode, explain
from governance.services.common import Target, governed, require_role
from governance.services.decisions import decision_store


def _check(
    limit: Limit,
    *,
    studio_id: int,
    actor: Actor,
    kind: DecisionKind,
    capability_id: str = "",
    owner_id: str = "",
) -> PendingDecision:
    """Count one call against ``limit``: the decision, not stored yet."""
    step_input = {**limit.labels, "limit": limit.limit, "window_seconds": limit.window_seconds}

    def pending(decision: Decision, audit_action: str, **metadata: Any) -> PendingDecision:
        return PendingDecision(
            decision=decision,
            studio_id=studio_id,
            kind=kind,
            actor=actor,
            audit_action=audit_action,
            capability_id=capability_id,
            resource_owner_id=owner_id,
            metadata=metadata,
        )

    try:
        hit = limiter_hit(limit)
    except RateLimitUnavailable as error:
        decision = Decision(
            allowed=False,
            code=ReasonCode.RATE_LIMIT_UNAVAILABLE,
            message=explain(ReasonCode.RATE_LIMIT_UNAVAILABLE),
            trace=(
                TraceStep(
                    f"{limit.kind}_limit",
                    {**step_input, "error": str(error)[:200]},
                    False,
                    "The counter store (Redis) did not answer, so the call is refused rather "
                    "than let through uncounted.",
                ),
            ),
        )
        return pending(decision, "rate_limit_unavailable")
    window = window_words(limit.window_seconds)
    if hit.allowed:
        decision = Decision(
            allowed=True,
            code=ALLOWED,
            message="Within the limit.",
            trace=(
                TraceStep(
                    f"{limit.kind}_limit",
                    {**step_input, "count": hit.count},
                    True,
                    f"Call {hit.count} of {limit.limit} allowed per {window}.",
                ),
            ),
        )
        return pending(decision, "rate_limit_allowed")
    decision = Decision(
        allowed=False,
        code=ReasonCode.RATE_LIMITED,
        message=f"At most {limit.limit} calls per {window}; try again in {hit.retry_after} s.",
        retry_after=hit.retry_after,
        trace=(
            TraceStep(
                f"{limit.kind}_limit",
                {**step_input, "count": hit.count, "retry_after": hit.retry_after},
                False,
                f"{hit.count} calls were already made in the last {window}, the most "
                f"allowed is {limit.limit}; the next slot frees in {hit.retry_after} s.",
            ),
        ),
    )
    return pending(decision, "rate_limit_triggered", limit_key=limit.key, **limit.labels)


def _denials_stored(pending: PendingDecision) -> Decision:
    """The decision; a denial stored and audited first (in the caller's transaction), with
    ``detail["decision_id"]`` naming its row. Allowed calls are not stored."""
    decision = pending.decision
    if decision.allowed:
        return decision
    row = decision_store(pending)
    return dataclasses.replace(decision, detail={**decision.detail, "decision_id": row.pk})


def quota_take(
    *, studio_id: int, owner_id: str, actor: Actor, capability_id: str
) -> PendingDecision:
    """Take one call of ``capability_id``'s budget for (studio, owner, actor, capability),
    storing nothing: the decision comes back pending, for a caller that stores it itself
    (the execution gateway raises a denial with it, and ``governed`` stores it after the
    rollback). Raises ``CapabilityUnknown``.

    The budget is the capability's ``max_calls_per_hour`` per BRAIN_QUOTA_WINDOW. Denies
    RATE_LIMITED (with ``retry_after``) over the budget and RATE_LIMIT_UNAVAILABLE when
    Redis cannot be reached; a capability without a declared budget is not counted.
    """
    spec = capability_spec(capability_id)
    if spec.max_calls_per_hour is None:
        return PendingDecision(
            decision=Decision(
                allowed=True,
                code=ALLOWED,
                message="No hourly budget is declared for this capability.",
                trace=(
                    TraceStep(
                        "quota_limit",
                        {"capability": capability_id},
                        None,
                        f"{capability_id} declares no hourly budget, so calls are not counted.",
                    ),
                ),
            ),
            studio_id=studio_id,
            kind=DecisionKind.QUOTA,
            actor=actor,
            audit_action="rate_limit_allowed",
            capability_id=capability_id,
            resource_owner_id=owner_id,
        )
    limit = quota_limit(
        studio_id=studio_id,
        owner_id=owner_id,
        actor_type=str(actor.type),
        actor_id=actor.id,
        capability_id=capability_id,
        max_calls=spec.max_calls_per_hour,
        window_seconds=int(settings.BRAIN.quota_window.total_seconds()),
    )
    return _check(
        limit,
        studio_id=studio_id,
        actor=actor,
        kind=DecisionKind.QUOTA,
        capability_id=capability_id,
        owner_id=owner_id,
    )


def quota_consume(*, studio_id: int, owner_id: str, actor: Actor, capability_id: str) -> Decision:
    """``quota_take``, with a denial stored and audited inside the caller's transaction
    (``rate_limit_triggered`` / ``rate_limit_unavailable``). An unknown capability is
    denied CAPABILITY_UNKNOWN, with nothing counted or stored."""
    try:
        pending = quota_take(
            studio_id=studio_id, owner_id=owner_id, actor=actor, capability_id=capability_id
        )
    except CapabilityUnknown:
        return Decision(
            allowed=False,
            code=ReasonCode.CAPABILITY_UNKNOWN,
            message=explain(ReasonCode.CAPABILITY_UNKNOWN),
        )
    return _denials_stored(pending)


def endpoint_limit_hit(*, studio_id: int, endpoint: Endpoint, actor: Actor) -> Decision:
    """Count one call of ``endpoint`` by ``actor`` (per minute, limits from the config)."""
    limit = endpoint_limit(
        studio_id=studio_id,
        endpoint=endpoint,
        actor_type=str(actor.type),
        actor_id=actor.id,
        config=settings.BRAIN,
    )
    return _denials_stored(
        _check(limit, studio_id=studio_id, actor=actor, kind=DecisionKind.RATE_LIMIT)
    )


def rate_limit_reset(*, studio: Studio, key: str, actor: Actor) -> bool:
    """An admin clears one counter of their studio (audited ``rate_limit.reset``).

    The audit row is written first and the counter cleared inside the same transaction:
    if Redis refuses, the transaction rolls back and nothing claims a reset happened.
    """

    def body() -> bool:
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        parts = parse_key(key)
        if parts is None or parts["studio"] != str(studio.pk):
            raise Denied(
                ReasonCode.TENANT_MISMATCH,
                "That counter does not belong to this studio.",
                studio_id=studio.pk,
            )
        with transaction.atomic():
            audit_append(
                studio=studio,
                actor=actor,
                action="rate_limit.reset",
                target_type="rate_limit",
                target_id=key[:100],
                reason_code=ReasonCode.ALLOWED,
                metadata=parts,
            )
            try:
                return limiter_reset(key)
            except RateLimitUnavailable:
                raise Denied(ReasonCode.RATE_LIMIT_UNAVAILABLE, studio_id=studio.pk) from None

    return governed("rate_limit.reset_denied", actor, body, target=Target("rate_limit"))
