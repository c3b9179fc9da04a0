"""Domain errors of governance. A denial carries a stable reason code and a plain explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from governance.actors import Actor
from governance.policies.decision import Decision
from governance.reasons import ReasonCode, explain


class GovernanceError(Exception):
    """Base of governance's domain errors."""


class ProposalNotFound(GovernanceError):
    def __init__(self, proposal_id: int | str) -> None:
        self.proposal_id = proposal_id
        super().__init__(f"no proposal {proposal_id}")


@dataclass(frozen=True)
class PendingDecision:
    """A policy decision taken but not stored yet, with what its stored row will name.

    ``governance.services.decisions.decision_store`` writes it (the decision, its trace and
    its audit event ``audit_action``); a denial that carries one has it stored by
    ``governed`` once the attempt has rolled back.
    """

    decision: Decision
    studio_id: int
    kind: str  # a governance.models.DecisionKind
    actor: Actor
    audit_action: str
    capability_id: str = ""
    resource_owner_id: str = ""
    delegation_id: int | None = None
    proposal_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Denied(GovernanceError):
    """A governed action was refused. ``code`` is stable; ``message`` is for people.

    ``studio_id``/``proposal_id`` say where the denial is audited; ``field_errors`` maps an
    input field to what is wrong with it, for forms and the CLI. ``decision``: the policy
    decision that refused it, stored next to the denial's audit event (see ``governed``).
    """

    def __init__(
        self,
        code: ReasonCode,
        message: str = "",
        *,
        studio_id: int | None = None,
        proposal_id: int | None = None,
        field_errors: dict[str, list[str]] | None = None,
        detail: dict[str, Any] | None = None,
        decision: PendingDecision | None = None,
    ) -> None:
        self.code = code
        self.message = message or explain(code)
        self.studio_id = studio_id
        self.proposal_id = proposal_id
        self.field_errors = field_errors or {}
        self.detail = detail or {}
        self.decision = decision
        super().__init__(f"{code}: {self.message}")

    def as_json(self) -> dict[str, Any]:
        return {
            "denied": True,
            "reason_code": str(self.code),
            "message": self.message,
            "explanation": explain(self.code),
            "field_errors": self.field_errors,
        }
