"""Who is calling the agent API, once a token has been resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from governance.actors import Actor
from governance.enums import ActorType
from governance.policies.delegation import scopes_cover


@dataclass(frozen=True)
class ResolvedActor:
    """An authenticated caller: actor type and id, the staff owner it acts for, its studio
    (an agent belongs to exactly one) and the scopes its delegations grant right now.

    ``effective_scopes`` is what the agent may ask for in general; each action is still
    decided by ``delegation_decision`` against the owner of the resources it touches.
    """

    actor_type: ActorType
    actor_id: str
    owner: str
    studio: Any  # brain.models.Studio
    effective_scopes: frozenset[str] = field(default_factory=frozenset)
    token_prefix: str = ""

    def as_actor(self) -> Actor:
        """The governance ``Actor`` that services and audit rows take."""
        return Actor(self.actor_type, self.actor_id)

    def may_use(self, capability_id: str) -> bool:
        return scopes_cover(self.effective_scopes, capability_id)
