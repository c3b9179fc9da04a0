"""The request/job id that travels from a web request into Celery tasks and connector calls."""

from __future__ import annotations

import re
import uuid

import structlog

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only when it is short and plain, so it cannot smuggle anything into logs.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(raw: str | None) -> str:
    """The inbound id when well-formed, else a fresh one."""
    if raw and REQUEST_ID_RE.match(raw):
        return raw
    return new_request_id()


def current_request_id() -> str | None:
    """The request id bound to this context (web request or job), if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None
