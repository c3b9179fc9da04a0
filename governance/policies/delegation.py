"""Delegation: may this agent use this capability on this owner's resources, now?

An agent acts only under a delegation from a staff owner (docs/domain.md): ``{agent, owner,
scopes[], issued_at, expires_at, revoked_at}`` with scopes ``capability:<id>:execute`` or
``capability:*:execute``. The checks narrow the agent's delegations step by step, and the
first step that leaves none names the denial:

1. the actor is an agent (staff act under their role, not a delegation);
2. a delegation presented by id was issued to this agent (DELEGATION_ACTOR_MISMATCH);
3. the agent has any delegation (DELEGATION_MISSING);
4. one of them is from the owner of the resources acted on (DELEGATION_OWNER_MISMATCH —
   the confused-deputy guard: a delegation from one owner never reaches another's);
5. one of those is not revoked, locally or in the cloud (DELEGATION_REVOKED);
6. one of those is in force at the decision time (DELEGATION_EXPIRED);
7. one of those has a scope covering the capability (DELEGATION_SCOPE_MISSING).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from governance.policies.decision import ALLOWED, Decision, TraceStep

SCOPE_RE = re.compile(r"^capability:(\*|[a-z0-9_]+(?:\.[a-z0-9_]+)+):execute$")
WILDCARD = "capability:*:execute"

MESSAGES = {
    "DELEGATION_MISSING": "The agent has no delegation from a staff owner in this studio.",
    "DELEGATION_EXPIRED": "The agent's delegation from this owner is not in force (expired or not yet valid).",
    "DELEGATION_REVOKED": "The agent's delegation from this owner was revoked.",
    "DELEGATION_OWNER_MISMATCH": (
        "The agent holds no delegation from the owner of these resources: a delegation from "
        "one owner never lets an agent act on another owner's resources."
    ),
    "DELEGATION_ACTOR_MISMATCH": "The delegation presented was issued to a different agent.",
    "DELEGATION_SCOPE_MISSING": "The agent's delegation does not cover this capability.",
}


def scope_for(capability_id: str) -> str:
    return f"capability:{capability_id}:execute"


def scope_is_valid(scope: str) -> bool:
    return bool(SCOPE_RE.match(scope))


def scopes_cover(scopes: Iterable[str], capability_id: str) -> bool:
    wanted = scope_for(capability_id)
    return any(scope in (WILDCARD, wanted) for scope in scopes)


@dataclass(frozen=True)
class DelegationFacts:
    """What a decision needs to know about one delegation (loaded by the caller)."""

    id: int
    agent_id: str
    owner_id: str
    scopes: tuple[str, ...]
    issued_at: datetime | None
    expires_at: datetime | None
    cloud_revoked_at: datetime | None = None
    local_revoked_at: datetime | None = None
    removed_at: datetime | None = None
    source: str = "cloud"

    def revoked_at(self, at: datetime) -> tuple[datetime | None, str]:
        """When and how it was revoked as of ``at`` (local revocations always count)."""
        if self.local_revoked_at is not None:
            return self.local_revoked_at, "revoked here by staff"
        if self.cloud_revoked_at is not None and self.cloud_revoked_at <= at:
            return self.cloud_revoked_at, "revoked in the cloud"
        if self.removed_at is not None:
            return self.removed_at, "removed from the cloud"
        return None, ""

    def in_force(self, at: datetime) -> bool:
        # A delegation without an expiry is not in force: fail safe on incomplete cloud data.
        if self.expires_at is None or self.issued_at is None:
            return False
        return self.issued_at <= at < self.expires_at


def _ids(delegations: Sequence[DelegationFacts]) -> list[int]:
    return [d.id for d in delegations]


def _deny(code: str, trace: list[TraceStep]) -> Decision:
    return Decision(allowed=False, code=code, message=MESSAGES[code], trace=tuple(trace))


def evaluate_delegation(
    *,
    actor_type: str,
    actor_id: str,
    capability_id: str,
    resource_owner_id: str,
    at: datetime,
    delegations: Sequence[DelegationFacts],
    presented_delegation_id: int | None = None,
) -> Decision:
    """Decide from the agent's delegations (``delegations``: every delegation of the studio
    that names this agent, plus the presented one if it names another agent)."""
    trace: list[TraceStep] = []
    if actor_type != "agent":
        trace.append(
            TraceStep(
                "actor_is_agent",
                {"actor_type": actor_type, "actor_id": actor_id},
                None,
                f"The actor is {actor_type} {actor_id}, not an agent: delegations do not apply "
                "(staff act under their role in the studio).",
            )
        )
        return Decision(True, ALLOWED, "Delegations apply to agents only.", tuple(trace))
    trace.append(
        TraceStep(
            "actor_is_agent",
            {"actor_type": actor_type, "actor_id": actor_id},
            True,
            f"The actor is agent {actor_id}, so it needs a delegation.",
        )
    )
    if presented_delegation_id is not None:
        presented = next((d for d in delegations if d.id == presented_delegation_id), None)
        issued_to = presented.agent_id if presented else None
        ok = presented is not None and presented.agent_id == actor_id
        trace.append(
            TraceStep(
                "delegation_issued_to_actor",
                {"delegation": presented_delegation_id, "issued_to": issued_to},
                ok,
                f"Delegation #{presented_delegation_id} was issued to agent {actor_id}."
                if ok
                else f"Delegation #{presented_delegation_id} was issued to "
                f"{issued_to or 'no agent known here'}, not to agent {actor_id}.",
            )
        )
        if not ok:
            return _deny("DELEGATION_ACTOR_MISMATCH", trace)
        candidates = [presented] if presented else []
    else:
        candidates = [d for d in delegations if d.agent_id == actor_id]
    trace.append(
        TraceStep(
            "delegation_exists",
            {"agent": actor_id, "delegations": _ids(candidates)},
            bool(candidates),
            f"Agent {actor_id} holds {len(candidates)} delegation(s) in this studio."
            if candidates
            else f"Agent {actor_id} holds no delegation in this studio.",
        )
    )
    if not candidates:
        return _deny("DELEGATION_MISSING", trace)

    from_owner = [d for d in candidates if d.owner_id == resource_owner_id]
    owners = sorted({d.owner_id for d in candidates})
    trace.append(
        TraceStep(
            "owner_matches_resource",
            {"resource_owner": resource_owner_id, "delegation_owners": owners},
            bool(from_owner),
            f"A delegation comes from {resource_owner_id}, who owns the resources acted on."
            if from_owner
            else f"The resources belong to {resource_owner_id}, but the agent's delegations "
            f"come from {', '.join(owners)}: it cannot act on another owner's resources.",
        )
    )
    if not from_owner:
        return _deny("DELEGATION_OWNER_MISMATCH", trace)

    not_revoked = [d for d in from_owner if d.revoked_at(at)[0] is None]
    revocations = {d.id: d.revoked_at(at)[1] for d in from_owner if d.revoked_at(at)[0]}
    trace.append(
        TraceStep(
            "not_revoked",
            {"delegations": _ids(from_owner), "revoked": revocations},
            bool(not_revoked),
            f"{len(not_revoked)} of {len(from_owner)} delegation(s) from {resource_owner_id} "
            "are not revoked."
            if not_revoked
            else "Every delegation from "
            + resource_owner_id
            + " was revoked ("
            + "; ".join(f"#{i} {how}" for i, how in sorted(revocations.items()))
            + ").",
        )
    )
    if not not_revoked:
        return _deny("DELEGATION_REVOKED", trace)

    in_force = [d for d in not_revoked if d.in_force(at)]
    windows = {
        d.id: [
            d.issued_at.isoformat() if d.issued_at else None,
            d.expires_at.isoformat() if d.expires_at else None,
        ]
        for d in not_revoked
    }
    trace.append(
        TraceStep(
            "in_force",
            {"at": at.isoformat(), "windows": windows},
            bool(in_force),
            f"{len(in_force)} delegation(s) are in force at {at:%Y-%m-%d %H:%M} UTC."
            if in_force
            else f"No delegation from {resource_owner_id} is in force at "
            f"{at:%Y-%m-%d %H:%M} UTC: "
            + "; ".join(_window_words(d, at) for d in not_revoked)
            + ".",
        )
    )
    if not in_force:
        return _deny("DELEGATION_EXPIRED", trace)

    covering = [d for d in in_force if scopes_cover(d.scopes, capability_id)]
    scopes = sorted({scope for d in in_force for scope in d.scopes})
    trace.append(
        TraceStep(
            "scope_covers_capability",
            {"needed": scope_for(capability_id), "scopes": scopes},
            bool(covering),
            f"Delegation #{covering[0].id} grants {scope_for(capability_id)}"
            + (" (through the wildcard scope)." if WILDCARD in covering[0].scopes else ".")
            if covering
            else f"The delegations in force grant {', '.join(scopes) or 'no scopes'}; "
            f"none is {scope_for(capability_id)} or {WILDCARD}.",
        )
    )
    if not covering:
        return _deny("DELEGATION_SCOPE_MISSING", trace)
    chosen = min(covering, key=lambda d: (d.expires_at, d.id))
    return Decision(
        allowed=True,
        code=ALLOWED,
        message=f"Delegation #{chosen.id} from {chosen.owner_id} covers {capability_id}.",
        trace=tuple(trace),
        detail={"delegation_id": chosen.id},
    )


def _window_words(delegation: DelegationFacts, at: datetime) -> str:
    if delegation.expires_at is None or delegation.issued_at is None:
        return f"#{delegation.id} has no issue or expiry time, so it never counts"
    if at < delegation.issued_at:
        return f"#{delegation.id} starts at {delegation.issued_at:%Y-%m-%d %H:%M} UTC"
    return f"#{delegation.id} expired at {delegation.expires_at:%Y-%m-%d %H:%M} UTC"


def effective_scopes(
    delegations: Iterable[DelegationFacts], *, agent_id: str, at: datetime
) -> frozenset[str]:
    """Scopes of the agent's delegations that are in force and not revoked at ``at``."""
    return frozenset(
        scope
        for d in delegations
        if d.agent_id == agent_id and d.revoked_at(at)[0] is None and d.in_force(at)
        for scope in d.scopes
    )
