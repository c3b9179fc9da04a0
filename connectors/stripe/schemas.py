"""Stripe settings and what the brain reads of it."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from connectors.sdk.schemas import ConnectorSettings

# The objects the brain reads (docs/domain.md), by the name the mirror files them under.
RESOURCES = (
    "checkout_sessions",
    "payment_intents",
    "charges",
    "refunds",
    "disputes",
    "balance_transactions",
    "payouts",
)

# Fields never mirrored: a PaymentIntent's client_secret lets a browser confirm the
# payment; the brain has no use for it and a local database must not hold it.
DROPPED_FIELDS = frozenset({"client_secret"})


class StripeSettings(ConnectorSettings):
    api_base: str = Field(
        "",
        description="Stripe's API address (empty: BRAIN_STRIPE_API_BASE, or api.stripe.com).",
    )
    window_days: int = Field(
        120, ge=1, le=3650, description="Objects created in the last this many days are read."
    )
    page_size: int = Field(100, ge=1, le=100, description="Objects per list request (max 100).")
    created_filter_unsupported: tuple[str, ...] = Field(
        (),
        description=(
            "Resources whose server refuses the created[gte] filter (localstripe): they are "
            "read in full and filtered by created here."
        ),
    )
    # Stripe allows 25 read requests per second on a restricted key in test mode; one at a
    # time keeps a capture well inside that.
    max_concurrency: int = Field(1, ge=1, le=8)

    @field_validator("api_base")
    @classmethod
    def api_base_is_a_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http(s) URL such as https://api.stripe.com")
        return value

    @field_validator("created_filter_unsupported")
    @classmethod
    def known_resources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(RESOURCES))
        if unknown:
            raise ValueError(f"unknown resources {', '.join(unknown)}; use {', '.join(RESOURCES)}")
        return value
