"""Redaction of secrets in anything a connector keeps or logs.

The project's log pipeline already scrubs ``access_token=`` and known secrets; connectors
cannot import it (connectors sit below brain), and diagnostics are stored, not only logged,
so the SDK redacts on its own: the connector's secret values by value, and token-like
query parameters by shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
QUERY_TOKEN_RE = re.compile(
    r"((?:access_token|token|api_key|key|secret|password)=)[^&\s\"'<>]+", re.IGNORECASE
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return QUERY_TOKEN_RE.sub(r"\1" + REDACTED, text)


class QueryTokenFilter(logging.Filter):
    """Scrub tokens from stdlib log records before any handler formats them.

    httpx logs every request URL at INFO, and Hubitat's Maker API carries the token in
    the URL; this filter sits on the ``httpx`` and ``httpcore`` loggers so the token is
    gone even under a logging setup that lacks the project's redaction processor.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is left for the handler to report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_http_log_redaction() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryTokenFilter) for f in logger.filters):
            logger.addFilter(QueryTokenFilter())
