"""Domain errors of governance. A denial carries a stable reason code and a plain explanation."""

from __future__ import annotations

from typing import Any

from governance.reasons import ReasonCode, explain


class GovernanceError(Exception):
    """Base of governance's domain errors."""


class ProposalNotFound(GovernanceError):
    def __init__(self, proposal_id: int | str) -> None:
        self.proposal_id = proposal_id
        super().__init__(f"no proposal {proposal_id}")


class Denied(GovernanceError):
    """A governed action was refused. ``code`` is stable; ``message`` is for people.

    ``studio_id``/``proposal_id`` say where the denial is audited; ``field_errors`` maps an
    input field to what is wrong with it, for forms and the CLI.
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
    ) -> None:
        self.code = code
        self.message = message or explain(code)
        self.studio_id = studio_id
        self.proposal_id = proposal_id
        self.field_errors = field_errors or {}
        self.detail = detail or {}
        super().__init__(f"{code}: {self.message}")

    def as_json(self) -> dict[str, Any]:
        return {
            "denied": True,
            "reason_code": str(self.code),
            "message": self.message,
            "explanation": explain(self.code),
            "field_errors": self.field_errors,
        }
