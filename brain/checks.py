"""Cross-setting rules of the config contract, as Django system checks with stable ids.

Each rule protects one of the invariants in docs/architecture.md; `manage.py check` (and every
start-up) refuses a configuration that breaks one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from brain.config import BrainConfig


def brain_config() -> BrainConfig:
    return settings.BRAIN


@register("brain")
def check_writes_need_approval(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    if config.enable_write_execution and not config.require_approval_for_external_writes:
        return [
            Error(
                "External writes are enabled without required approval.",
                hint="Set BRAIN_REQUIRE_APPROVAL_FOR_EXTERNAL_WRITES=true, "
                "or BRAIN_ENABLE_WRITE_EXECUTION=false.",
                id="brain.E001",
            )
        ]
    return []


@register("brain")
def check_default_studio_allowed(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    if (
        config.default_studio
        and config.allowed_studios
        and config.default_studio not in config.allowed_studios
    ):
        return [
            Error(
                f"BRAIN_DEFAULT_STUDIO={config.default_studio!r} is not in BRAIN_ALLOWED_STUDIOS.",
                hint="Add it to BRAIN_ALLOWED_STUDIOS or pick one of "
                + ", ".join(config.allowed_studios)
                + ".",
                id="brain.E002",
            )
        ]
    return []


@register("brain")
def check_writes_have_audit_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    if config.enable_write_execution and not config.audit_signing_key:
        return [
            Error(
                "External writes are enabled but BRAIN_AUDIT_SIGNING_KEY is unset, "
                "so the audit chain digest cannot be signed.",
                hint="Set BRAIN_AUDIT_SIGNING_KEY (or BRAIN_AUDIT_SIGNING_KEY_FILE) "
                "before enabling writes.",
                id="brain.E003",
            )
        ]
    return []


@register("brain")
def check_snapshots_can_be_fresh(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    if config.job_interval >= config.snapshot_max_age:
        return [
            Error(
                "BRAIN_JOB_INTERVAL is not shorter than BRAIN_SNAPSHOT_MAX_AGE, "
                "so every snapshot would be stale before the next capture.",
                hint="Make BRAIN_JOB_INTERVAL shorter than BRAIN_SNAPSHOT_MAX_AGE.",
                id="brain.E004",
            )
        ]
    return []


@register("brain")
def check_stripe_read_only(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    if not config.stripe_read_only:
        return [
            Error(
                "BRAIN_STRIPE_READ_ONLY=false: the brain never writes to Stripe; "
                "the cloud app owns payments.",
                hint="Set BRAIN_STRIPE_READ_ONLY=true (or unset it).",
                id="brain.E005",
            )
        ]
    return []


@register("brain")
def check_production_hosts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    messages: list[CheckMessage] = []
    if config.is_production and "*" in config.allowed_hosts:
        messages.append(
            Error(
                "DJANGO_ALLOWED_HOSTS contains '*' in production.",
                hint="List the host names staff use, "
                "e.g. DJANGO_ALLOWED_HOSTS=brain.studio.example.",
                id="brain.E006",
            )
        )
    if config.is_production and config.debug:
        messages.append(
            Error(
                "DJANGO_DEBUG=true in production shows stack traces and settings to anyone.",
                hint="Set DJANGO_DEBUG=false.",
                id="brain.E007",
            )
        )
    return messages


@register("brain")
def check_demo_mode_is_read_only(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    if config.demo_mode and config.enable_write_execution:
        return [
            Error(
                "BRAIN_DEMO_MODE=true with BRAIN_ENABLE_WRITE_EXECUTION=true: "
                "demo data is not a cloud to write to.",
                hint="Turn one of them off.",
                id="brain.E008",
            )
        ]
    return []


@register("brain")
def check_admin_path(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = brain_config()
    if config.is_production and config.admin_path == "admin/":
        return [
            Warning(
                "The Django admin is at the well-known path admin/.",
                hint="Set BRAIN_ADMIN_PATH to a less guessable path in production.",
                id="brain.W001",
            )
        ]
    return []


@register("brain")
def check_passkey_origins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every passkey origin must be the RP ID or a subdomain of it, else no browser will ever
    produce an assertion this runtime accepts (WebAuthn binds credentials to the RP ID)."""
    config = brain_config()
    rp_id = config.passkey_rp_id
    errors: list[CheckMessage] = []
    for origin in config.passkey_origins:
        host = urlsplit(origin).hostname or ""
        if host != rp_id and not host.endswith(f".{rp_id}"):
            errors.append(
                Error(
                    f"BRAIN_PASSKEY_ORIGINS has {origin!r}, whose host is not "
                    f"BRAIN_PASSKEY_RP_ID ({rp_id!r}) or a subdomain of it.",
                    hint="Set BRAIN_PASSKEY_RP_ID to the cockpit's host name and list its "
                    "origins (https://brain.example.org) in BRAIN_PASSKEY_ORIGINS.",
                    id="brain.E009",
                )
            )
    return errors
