"""One error taxonomy for every connector.

Each code is either *transient* (the same call may succeed later, so it is retried with
backoff) or *permanent* (retrying cannot help, so it fails at once). A connector maps its
transport's failures onto these codes; nothing above the SDK ever sees an httpx or miio
exception.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    AUTH = "AUTH"
    TIMEOUT = "TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"
    BAD_RESPONSE = "BAD_RESPONSE"
    READ_ONLY_VIOLATION = "READ_ONLY_VIOLATION"
    RATE_LIMITED = "RATE_LIMITED"
    UNKNOWN = "UNKNOWN"

    @property
    def transient(self) -> bool:
        return self in TRANSIENT_CODES

    @property
    def words(self) -> str:
        """What the code means to a member of staff, for the cockpit and the CLI."""
        return ERROR_WORDS[self]


# BAD_RESPONSE is permanent: a peer that answers garbage answers the same garbage when asked
# again, and hammering a confused hub makes it worse. AUTH needs a person to fix the token.
TRANSIENT_CODES = frozenset({ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED})

ERROR_WORDS: dict[ErrorCode, str] = {
    ErrorCode.AUTH: "The device refused our credentials; check the token named in the "
    "connector's secrets.",
    ErrorCode.TIMEOUT: "The device did not answer in time.",
    ErrorCode.UNAVAILABLE: "The device could not be reached or reported a server error.",
    ErrorCode.BAD_RESPONSE: "The device answered with something we could not understand.",
    ErrorCode.READ_ONLY_VIOLATION: "A write was attempted on a connector that is read-only.",
    ErrorCode.RATE_LIMITED: "The device asked us to slow down.",
    ErrorCode.UNKNOWN: "An unexpected error happened while talking to the device.",
}

DIAGNOSTIC_BYTES = 200


class ConnectorError(Exception):
    """A failed connector call, with its code and whether it may be retried.

    ``diagnostic`` keeps at most the first 200 bytes of what the peer sent (already
    redacted by the connector) so a person can see *what* garbage came back.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        transient: bool | None = None,
        diagnostic: str = "",
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = code.transient if transient is None else transient
        self.diagnostic = diagnostic[:DIAGNOSTIC_BYTES]
        self.retry_after = retry_after
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": str(self.code),
            "message": self.message,
            "transient": self.transient,
            "words": self.code.words,
        }
        if self.diagnostic:
            data["diagnostic"] = self.diagnostic
        if self.status is not None:
            data["status"] = self.status
        return data


class CircuitOpenError(ConnectorError):
    """The breaker refused the call without any I/O: the peer failed recently."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(
            ErrorCode.UNAVAILABLE,
            f"circuit open after repeated failures; next probe in {retry_in:.1f} s",
            transient=True,
        )
        self.retry_in = retry_in


class ConfigurationError(ValueError):
    """Settings or secrets of a connector are invalid. The message names the field and why."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {why}" for field, why in errors))
