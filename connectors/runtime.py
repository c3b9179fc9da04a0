"""From a ``ConnectorConfig`` row to a live connector: settings validated by the kind's
schema, secrets read from the environment, the breaker in Redis, failures recorded as
``ConnectorCall`` rows."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import redis
from django.conf import settings as django_settings
from pydantic import ValidationError

from connectors.models import ConnectorCall, ConnectorConfig
from connectors.sdk.base import CallRecord, Connector
from connectors.sdk.breaker import CircuitBreaker
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.registry import connector_class, kinds
from connectors.sdk.schemas import ConnectorSettings
from connectors.sdk.secrets import ENV_NAME_RE, resolve_secrets


def validate_settings(kind: str, raw: Mapping[str, Any]) -> ConnectorSettings:
    """The kind's typed settings, or ``ConfigurationError`` naming each bad field and why."""
    try:
        cls = connector_class(kind)
    except KeyError:
        raise ConfigurationError(
            [("kind", f"unknown kind {kind!r}; use one of {', '.join(kinds())}")]
        ) from None
    try:
        return cls.settings_model.model_validate(dict(raw))
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"]) or "settings"
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                allowed = ", ".join(cls.settings_model.model_fields)
                message = f"is not a setting of {kind} (settings are: {allowed})"
            problems.append((field, message))
        raise ConfigurationError(problems) from None


def validate_secret_names(
    kind: str, settings: ConnectorSettings, secret_env: Mapping[str, str]
) -> None:
    """Every secret the kind needs is named, and each name is an environment variable name."""
    problems = []
    for key in connector_class(kind).required_secret_keys(settings):
        if key not in secret_env:
            problems.append(
                (
                    f"secrets.{key}",
                    f"is required: name the environment variable holding it "
                    f"(--secret {key}=ENV_NAME)",
                )
            )
    for key, var in secret_env.items():
        if not isinstance(var, str) or not ENV_NAME_RE.match(var):
            problems.append(
                (f"secrets.{key}", f"{var!r} is not an environment variable name (A-Z, 0-9, _)")
            )
    if problems:
        raise ConfigurationError(problems)


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        str(django_settings.REDIS_URL), socket_connect_timeout=2, socket_timeout=2
    )


class DatabaseCallRecorder:
    """Writes ``ConnectorCall`` rows for one configured connector."""

    def __init__(self, config: ConnectorConfig) -> None:
        self.studio_id = config.studio_id
        self.config_id = config.pk

    def record(self, call: CallRecord) -> None:
        ConnectorCall.objects.create(
            studio_id=self.studio_id,
            config_id=self.config_id,
            kind=call.kind,
            operation=call.operation,
            outcome=call.outcome,
            request_id=call.request_id or "",
            job_id=call.job_id or "",
            input_hash=call.input_hash,
            output_hash=call.output_hash,
            error_code=call.error_code,
            latency_ms=call.latency_ms,
            attempts=call.attempts,
            detail=call.detail,
        )


def breaker_for(config: ConnectorConfig) -> CircuitBreaker:
    return CircuitBreaker(redis_client(), config.instance_id)


def build_connector(
    config: ConnectorConfig,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Connector:
    """A ready connector for ``config``; ``ConfigurationError`` for bad settings or secrets.

    ``overrides`` replace settings for this one connector (a dry run asks for one attempt
    with no retries, so a proposal is never held up by a slow device).
    """
    settings = validate_settings(config.kind, {**config.settings, **(overrides or {})})
    validate_secret_names(config.kind, settings, config.secret_env)
    secrets = resolve_secrets(config.secret_env, environ)
    return connector_class(config.kind)(
        instance=config.instance_id,
        settings=settings,
        secrets=secrets,
        read_only=config.read_only,
        breaker=breaker_for(config),
        recorder=DatabaseCallRecorder(config),
    )
