"""A policy decision and its trace: the shape every check of the policy layer returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TraceStep:
    """One check: its name, what it looked at, whether it passed (None: did not apply), and
    a sentence saying so in plain language."""

    check: str
    input: dict[str, Any]
    passed: bool | None
    explanation: str


@dataclass(frozen=True)
class Decision:
    """The outcome of a policy check. ``code`` is a stable reason code (ALLOWED when allowed)."""

    allowed: bool
    code: str
    message: str
    trace: tuple[TraceStep, ...] = ()
    retry_after: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def then(self, other: Decision) -> Decision:
        """This decision's trace followed by ``other``'s, with ``other``'s outcome."""
        return Decision(
            allowed=other.allowed,
            code=other.code,
            message=other.message,
            trace=self.trace + other.trace,
            retry_after=other.retry_after,
            detail={**self.detail, **other.detail},
        )


ALLOWED = "ALLOWED"
