"""Who did something: a staff user, an agent (automation, AI tool) or the system itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.enums import ActorType


@dataclass(frozen=True)
class Actor:
    """The required ``actor`` of every governed service. ``id`` is what the audit row stores."""

    type: ActorType
    id: str
    user: Any = None  # the staff user for ActorType.STAFF

    @classmethod
    def staff(cls, user: Any) -> Actor:
        if user is None or not getattr(user, "is_authenticated", False):
            raise ValueError("a staff actor needs an authenticated user")
        return cls(ActorType.STAFF, str(user.pk), user)

    @classmethod
    def agent(cls, agent_id: str) -> Actor:
        if not agent_id:
            raise ValueError("an agent actor needs an id")
        return cls(ActorType.AGENT, agent_id)

    @classmethod
    def system(cls, name: str) -> Actor:
        if not name:
            raise ValueError("a system actor needs a name, e.g. the job that acts")
        return cls(ActorType.SYSTEM, name)

    @property
    def label(self) -> str:
        if self.user is not None:
            return f"staff:{self.user.get_username()}"
        return f"{self.type}:{self.id}"
