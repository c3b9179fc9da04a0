"""POST one signed JSON body to a webhook receiver, over httpx like the other connectors.

The signature is ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` in
``X-StudioBrain-Signature``, the timestamp (Unix seconds) in ``X-StudioBrain-Timestamp``;
receivers recompute it and reject old timestamps (docs/notifications.md). The secret never
appears in an error, a log line or the delivery log; errors name the host and the status only.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

SIGNATURE_HEADER = "X-StudioBrain-Signature"
TIMESTAMP_HEADER = "X-StudioBrain-Timestamp"
# 408 and 429 say "try later"; any other 4xx says the request itself is wrong.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


@dataclass
class WebhookError(Exception):
    """A delivery that did not succeed. ``permanent``: retrying the same request cannot help."""

    message: str
    permanent: bool = False

    def __str__(self) -> str:
        return self.message


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_post(
    *,
    url: str,
    body: bytes,
    secret: str,
    timeout: float,
    now: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Send ``body``; the receiver's status code on a 2xx, else ``WebhookError``."""
    host = urlsplit(url).netloc or url
    timestamp = str(int(now if now is not None else time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "StudioBrain-Notify/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret, timestamp, body),
    }
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport
        ) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise WebhookError(f"{host} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as error:
        raise WebhookError(f"could not reach {host} ({type(error).__name__})") from None
    status = response.status_code
    if 200 <= status < 300:
        return status
    permanent = 300 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS
    raise WebhookError(f"{host} answered HTTP {status}", permanent=permanent)
