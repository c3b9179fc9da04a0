"""List pages of Stripe objects through the stripe library, with failures mapped onto the SDK's codes.

Only list calls are reachable from here. ``max_network_retries=0``: the connector retries
through the SDK, because stripe 16.1.0 never retries a 429 (it retries 409/5xx and
connection errors, and 429 only when the server adds ``Stripe-Should-Retry: true``), and
two retry layers would multiply each other's attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import stripe

from connectors.sdk.errors import ConnectorError, ErrorCode


class StripeReader:
    def __init__(self, *, api_key: str, api_base: str, timeout: float) -> None:
        self.stripe = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        v1 = self.stripe.v1
        self._lists: dict[str, Callable[..., Any]] = {
            "checkout_sessions": v1.checkout.sessions.list,
            "payment_intents": v1.payment_intents.list,
            "charges": v1.charges.list,
            "refunds": v1.refunds.list,
            "disputes": v1.disputes.list,
            "balance_transactions": v1.balance_transactions.list,
            "payouts": v1.payouts.list,
        }

    def page(self, resource: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """One list page as plain dicts (nested Stripe objects too), and whether more follow."""
        where = f"GET {resource} list"
        try:
            listing = self._lists[resource](params=params)
        except stripe.StripeError as error:
            raise translate(error, where) from error
        try:
            objects = [item.to_dict(recursive=True, for_json=True) for item in listing.data]
            return objects, bool(listing.has_more)
        except (AttributeError, TypeError) as error:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE, f"{where}: not a list object ({error})"
            ) from None


def translate(error: stripe.StripeError, where: str) -> ConnectorError:
    """A stripe error as a ``ConnectorError`` whose code says whether to retry."""
    status = error.http_status
    message = f"{where}: {(error.user_message or str(error))[:300]}"
    if isinstance(error, stripe.RateLimitError):
        return ConnectorError(
            ErrorCode.RATE_LIMITED,
            f"{where}: Stripe asked us to slow down (HTTP 429)",
            retry_after=_retry_after(error),
            status=status,
        )
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return ConnectorError(
            ErrorCode.AUTH, f"{where}: Stripe refused the key (HTTP {status})", status=status
        )
    if isinstance(error, stripe.APIConnectionError):
        text = str(error)
        if "Timeout" in text or "timed out" in text:
            return ConnectorError(ErrorCode.TIMEOUT, f"{where}: took longer than the timeout")
        return ConnectorError(ErrorCode.UNAVAILABLE, f"{where}: cannot reach Stripe")
    if status is not None and status >= 500:
        return ConnectorError(
            ErrorCode.UNAVAILABLE, f"{where}: Stripe answered HTTP {status}", status=status
        )
    if isinstance(error, stripe.APIError):
        # A 2xx whose body is not JSON, or another answer the library could not read.
        return ConnectorError(
            ErrorCode.BAD_RESPONSE,
            f"{where}: unreadable answer (HTTP {status})",
            diagnostic=str(error.http_body or "")[:200],
            status=status,
        )
    return ConnectorError(ErrorCode.BAD_RESPONSE, f"{message} (HTTP {status})", status=status)


def _retry_after(error: stripe.StripeError) -> float | None:
    raw = (error.headers or {}).get("retry-after") or (error.headers or {}).get("Retry-After")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
