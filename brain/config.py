"""The configuration contract: every setting the runtime reads, typed, bounded and documented.

Settings are read once, through django-environ, into one frozen ``BrainConfig``. A bad
value raises ``ConfigError`` whose message is a single line naming the variable, the
value, the allowed range and the fix; ``manage.py``, the WSGI entry point and the Celery
app print that line and exit instead of showing a traceback.

Secrets have no defaults, may be given as ``NAME`` or as ``NAME_FILE`` (a path whose
contents are the value, for mounted secrets) and are never rendered: ``describe()``
shows them as ``[set]`` / ``[unset]``.

Defaults and ranges come from ``docs/domain.md``; the numbers live here and nowhere else.

Each setting is declared once, as a ``BrainConfig`` field whose default is ``setting(...)``;
``SETTINGS`` (what ``load_config``, ``describe``, ``config show|example`` and the system checks
read) is built from those fields. To add one, add one field, e.g.::

    reauth_window: timedelta = setting(
        "BRAIN_REAUTH_WINDOW_MINUTES", "duration", 10 * MINUTE,
        "How long a re-authentication unlocks dangerous actions.", low=MINUTE, high=HOUR,
    )

then regenerate ``.env.example`` (``manage.py config example > .env.example``; a test checks
it) and read it as ``settings.BRAIN.reauth_window``. Add a system check in ``brain/checks.py``
only for a rule across settings.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$|^[a-z0-9]$")
DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$")
DURATION_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """A configuration value is missing or outside its contract. The message is one line."""


@dataclass(frozen=True)
class Setting:
    """One environment variable in the contract."""

    name: str
    kind: str  # bool | int | float | duration | str | choice | list | slug | slugs | url | secret
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    attr: str = ""

    @property
    def is_secret(self) -> bool:
        return self.kind == "secret"

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "duration":
            low, high = format_duration(self.low), format_duration(self.high)
            return f"{low} to {high} (e.g. 900, 15m, 4h, 7d)"
        if self.kind in ("int", "float"):
            return f"{_fmt_num(self.low)} to {_fmt_num(self.high)}"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "slug":
            return "a studio slug (lowercase letters, digits, hyphens)"
        if self.kind == "slugs":
            return "comma-separated studio slugs"
        if self.kind == "url":
            return "a URL such as postgres://user@host:5432/db or redis://host:6379/0"
        if self.kind == "list":
            return "a comma-separated list"
        return "any text"


def _fmt_num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def format_duration(seconds: float | None) -> str:
    """Seconds in the largest whole unit: 900 -> "15 min", 14400 -> "4 h", 90 -> "90 s"."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


MINUTE, HOUR, DAY = 60, 3600, 86400

# The key under which a ``BrainConfig`` field carries its ``Setting``.
_SETTING = "brain.setting"


def setting(
    name: str,
    kind: str,
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    required: bool = False,
) -> Any:
    """Declare a ``BrainConfig`` field and the environment variable behind it, in one place.

    The field stays required in the dataclass (``load_config`` always passes every value);
    the ``Setting`` rides in the field's metadata and gets the field's name as ``attr``.
    """
    return field(
        metadata={_SETTING: Setting(name, kind, default, help, low, high, choices, required)}
    )


@dataclass(frozen=True)
class BrainConfig:
    """The effective configuration. Durations are ``timedelta``s; secrets are ``str | None``.

    Each field is one setting: its type here, its variable, parsing, range, default and help
    in its ``setting(...)``. Field order is the order `config show` and `.env.example` use.
    """

    # Runtime
    deployment: str = setting(
        "BRAIN_DEPLOYMENT",
        "choice",
        "development",
        "development: local, HTTP, DEBUG allowed; "
        "production: HTTPS-only cookies, HSTS, SSL redirect.",
        choices=("development", "production"),
    )
    debug: bool = setting("DJANGO_DEBUG", "bool", False, "Django debug pages. Never in production.")
    allowed_hosts: tuple[str, ...] = setting(
        "DJANGO_ALLOWED_HOSTS",
        "list",
        ("127.0.0.1", "localhost"),
        "Host names this runtime answers to.",
    )
    secret_key: str | None = setting(
        "DJANGO_SECRET_KEY",
        "secret",
        None,
        "Signs sessions and CSRF tokens (50+ random characters).",
        required=True,
    )
    database_url: str | None = setting(
        "DATABASE_URL",
        "url",
        None,
        "Postgres URL. `make run` starts an embedded Postgres when unset.",
        required=True,
    )
    redis_url: str | None = setting(
        "REDIS_URL",
        "url",
        None,
        "Redis URL (Celery broker, quotas). `make run` starts an embedded Redis when unset.",
        required=True,
    )
    log_level: str = setting(
        "BRAIN_LOG_LEVEL",
        "choice",
        "INFO",
        "Lowest level written to stderr.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    )
    admin_path: str = setting(
        "BRAIN_ADMIN_PATH", "str", "admin/", "URL prefix of the Django admin (ends with /)."
    )
    session_idle_timeout: timedelta = setting(
        "BRAIN_SESSION_IDLE_TIMEOUT",
        "duration",
        30 * MINUTE,
        "Staff sessions end after this much inactivity.",
        low=5 * MINUTE,
        high=12 * HOUR,
    )
    reauth_window: timedelta = setting(
        "BRAIN_REAUTH_WINDOW",
        "duration",
        10 * MINUTE,
        "Sudo mode: dangerous actions ask for the password again after this since the last sign-in.",
        low=1 * MINUTE,
        high=1 * HOUR,
    )
    passkey_rp_id: str = setting(
        "BRAIN_PASSKEY_RP_ID",
        "str",
        "localhost",
        "Passkeys (WebAuthn) are bound to this domain: the cockpit's host name, no scheme or port.",
    )
    passkey_origins: tuple[str, ...] = setting(
        "BRAIN_PASSKEY_ORIGINS",
        "list",
        ("http://localhost:8000",),
        "Origins the browser may report for a passkey (scheme://host[:port], comma-separated).",
    )
    passkey_challenge_ttl: timedelta = setting(
        "BRAIN_PASSKEY_CHALLENGE_TTL",
        "duration",
        2 * MINUTE,
        "How long a passkey challenge may be answered; each is also good for one answer only.",
        low=30,
        high=10 * MINUTE,
    )
    login_failure_limit: int = setting(
        "BRAIN_LOGIN_FAILURE_LIMIT",
        "int",
        5,
        "Failed logins of one username from one address before that username is locked there.",
        low=3,
        high=20,
    )
    login_address_failure_limit: int = setting(
        "BRAIN_LOGIN_ADDRESS_FAILURE_LIMIT",
        "int",
        100,
        "Failed logins from one address, all usernames together, before the address is locked.",
        low=50,
        high=10000,
    )
    login_lockout: timedelta = setting(
        "BRAIN_LOGIN_LOCKOUT",
        "duration",
        15 * MINUTE,
        "How long a lockout lasts.",
        low=1 * MINUTE,
        high=1 * DAY,
    )
    readyz_worker_timeout: timedelta = setting(
        "BRAIN_READYZ_WORKER_TIMEOUT",
        "duration",
        2,
        "How long /readyz waits for a Celery worker reply.",
        low=1,
        high=30,
    )
    # Studios
    default_studio: str = setting(
        "BRAIN_DEFAULT_STUDIO", "slug", "", "Studio opened after login when the user belongs to it."
    )
    allowed_studios: tuple[str, ...] = setting(
        "BRAIN_ALLOWED_STUDIOS",
        "slugs",
        (),
        "Studios this runtime serves (empty: every studio in the database).",
    )
    # StudioState
    scan_limit: int = setting(
        "BRAIN_SCAN_LIMIT",
        "int",
        2000,
        "Documents read per collection before a snapshot is marked partial.",
        low=50,
        high=20000,
    )
    job_interval: timedelta = setting(
        "BRAIN_JOB_INTERVAL",
        "duration",
        15 * MINUTE,
        "How often read + capture jobs run per studio.",
        low=10,
        high=1 * DAY,
    )
    snapshot_max_age: timedelta = setting(
        "BRAIN_SNAPSHOT_MAX_AGE",
        "duration",
        240 * MINUTE,
        "Older than this, the latest snapshot is stale (readiness and the cockpit say so).",
        low=5 * MINUTE,
        high=7 * DAY,
    )
    connector_poll_interval: timedelta = setting(
        "BRAIN_CONNECTOR_POLL_INTERVAL",
        "duration",
        60,
        "How often each enabled connector's health and devices are polled.",
        low=10,
        high=1 * HOUR,
    )
    retention_days: int = setting(
        "BRAIN_RETENTION_DAYS",
        "int",
        180,
        "Days snapshots, diffs, job runs and proposals are kept.",
        low=7,
        high=3650,
    )
    drift_absolute: int = setting(
        "BRAIN_DRIFT_ABSOLUTE",
        "int",
        25,
        "A metric drifts when |observed - expected| reaches this.",
        low=1,
        high=100000,
    )
    drift_ratio: float = setting(
        "BRAIN_DRIFT_RATIO",
        "float",
        0.5,
        "...or when |observed - expected| / expected reaches this.",
        low=0.01,
        high=10.0,
    )
    # Finance reconciliation (docs/finance-reconciliation.md)
    reconciliation_stale_stripe_read: timedelta = setting(
        "BRAIN_RECONCILIATION_STALE_STRIPE_READ",
        "duration",
        24 * HOUR,
        "A reconciliation on a Stripe read older than this carries a stale_stripe_read flag.",
        low=1 * HOUR,
        high=30 * DAY,
    )
    reconciliation_pending_checkout_age: timedelta = setting(
        "BRAIN_RECONCILIATION_PENDING_CHECKOUT_AGE",
        "duration",
        24 * HOUR,
        "A checkout_pending order older than this (at the Stripe read) with no payment is stuck.",
        low=10 * MINUTE,
        high=30 * DAY,
    )
    demo_mode: bool = setting(
        "BRAIN_DEMO_MODE",
        "bool",
        False,
        "Read the demo cloud files instead of Firestore/Stripe; the cockpit says DEMO DATA.",
    )
    demo_dir: str = setting(
        "BRAIN_DEMO_DIR", "str", ".data/demo", "Where demo cloud files live, one folder per studio."
    )
    # Governance
    enable_write_execution: bool = setting(
        "BRAIN_ENABLE_WRITE_EXECUTION",
        "bool",
        False,
        "Master switch for external writes. Off: every execution is denied WRITES_DISABLED.",
    )
    require_approval_for_external_writes: bool = setting(
        "BRAIN_REQUIRE_APPROVAL_FOR_EXTERNAL_WRITES",
        "bool",
        True,
        "External writes need an approved proposal. Must stay on while writes are enabled.",
    )
    proposal_ttl: timedelta = setting(
        "BRAIN_PROPOSAL_TTL",
        "duration",
        72 * HOUR,
        "Pending proposals expire after this.",
        low=1 * HOUR,
        high=30 * DAY,
    )
    approval_window: timedelta = setting(
        "BRAIN_APPROVAL_WINDOW",
        "duration",
        24 * HOUR,
        "An approval must be executed within this.",
        low=5 * MINUTE,
        high=7 * DAY,
    )
    exemption_max_days: int = setting(
        "BRAIN_EXEMPTION_MAX_DAYS", "int", 7, "Longest an exemption may run.", low=1, high=30
    )
    # Quotas and endpoint rate limits (docs/domain.md "Agents, delegation, quotas"). A capability's
    # own hourly budget is its max_calls_per_hour in the registry; these are the rest.
    quota_window: timedelta = setting(
        "BRAIN_QUOTA_WINDOW",
        "duration",
        1 * HOUR,
        "Window of the per (studio, owner, actor, capability) quota; the budget per window "
        "is the capability's max calls per hour.",
        low=1 * MINUTE,
        high=1 * DAY,
    )
    rate_limit_proposal_create: int = setting(
        "BRAIN_RATE_LIMIT_PROPOSAL_CREATE",
        "int",
        20,
        "Proposals one caller may create per minute.",
        low=1,
        high=10000,
    )
    rate_limit_execute: int = setting(
        "BRAIN_RATE_LIMIT_EXECUTE",
        "int",
        20,
        "Executions one caller may start per minute.",
        low=1,
        high=10000,
    )
    rate_limit_intake_override: int = setting(
        "BRAIN_RATE_LIMIT_INTAKE_OVERRIDE",
        "int",
        10,
        "Intake review overrides one staff member may make per minute.",
        low=1,
        high=10000,
    )
    rate_limit_marketing_review: int = setting(
        "BRAIN_RATE_LIMIT_MARKETING_REVIEW",
        "int",
        20,
        "Marketing draft reviews one staff member may make per minute.",
        low=1,
        high=10000,
    )
    agent_token_ttl: timedelta = setting(
        "BRAIN_AGENT_TOKEN_TTL",
        "duration",
        90 * DAY,
        "Default lifetime of an agent API token (the issuer may choose a shorter one).",
        low=1 * HOUR,
        high=365 * DAY,
    )
    # Notifications (docs/notifications.md)
    notify_base_url: str = setting(
        "BRAIN_NOTIFY_BASE_URL",
        "str",
        "http://127.0.0.1:8000",
        "Address staff open the cockpit at; links in emails and webhook messages start with it.",
    )
    notify_digest_interval: timedelta = setting(
        "BRAIN_NOTIFY_DIGEST_INTERVAL",
        "duration",
        30 * MINUTE,
        "Default time between two digest emails to one member (each member may choose another).",
        low=5 * MINUTE,
        high=1 * DAY,
    )
    notify_max_attempts: int = setting(
        "BRAIN_NOTIFY_MAX_ATTEMPTS",
        "int",
        5,
        "Attempts per email or webhook delivery before it is shown as failed.",
        low=1,
        high=20,
    )
    notify_retry_backoff: timedelta = setting(
        "BRAIN_NOTIFY_RETRY_BACKOFF",
        "duration",
        30,
        "Wait before the first retry of a failed delivery; each later retry waits twice as long.",
        low=1,
        high=1 * HOUR,
    )
    notify_webhook_timeout: timedelta = setting(
        "BRAIN_NOTIFY_WEBHOOK_TIMEOUT",
        "duration",
        5,
        "How long a webhook receiver has to answer.",
        low=1,
        high=60,
    )
    email_host: str = setting(
        "BRAIN_EMAIL_HOST",
        "str",
        "",
        "SMTP server for notification emails (empty: email notifications are off).",
    )
    email_port: int = setting(
        "BRAIN_EMAIL_PORT", "int", 25, "Port of the SMTP server.", low=1, high=65535
    )
    email_use_tls: bool = setting(
        "BRAIN_EMAIL_USE_TLS", "bool", False, "Talk STARTTLS to the SMTP server."
    )
    email_host_user: str = setting(
        "BRAIN_EMAIL_HOST_USER", "str", "", "User name on the SMTP server (empty: no login)."
    )
    email_from: str = setting(
        "BRAIN_EMAIL_FROM",
        "str",
        "Studio Brain <brain@localhost>",
        "Sender address of notification emails.",
    )
    # Cloud
    stripe_read_only: bool = setting(
        "BRAIN_STRIPE_READ_ONLY",
        "bool",
        True,
        "Stripe is read with a restricted key and never written. Must stay on.",
    )
    stripe_api_base: str = setting(
        "BRAIN_STRIPE_API_BASE", "str", "", "Override Stripe's API address (tests: localstripe)."
    )
    firestore_project: str = setting(
        "BRAIN_FIRESTORE_PROJECT", "str", "", "Google Cloud project of the studio's Firestore."
    )
    # Secrets: no defaults, NAME or NAME_FILE, never rendered.
    stripe_api_key: str | None = setting(
        "BRAIN_STRIPE_API_KEY", "secret", None, "Stripe restricted read key (rk_...)."
    )
    firestore_credentials: str | None = setting(
        "BRAIN_FIRESTORE_CREDENTIALS",
        "secret",
        None,
        "Service-account JSON for Firestore read access.",
    )
    audit_signing_key: str | None = setting(
        "BRAIN_AUDIT_SIGNING_KEY",
        "secret",
        None,
        "HMAC key for the daily signed audit-chain digest.",
    )
    export_signing_key: str | None = setting(
        "BRAIN_EXPORT_SIGNING_KEY", "secret", None, "HMAC key for audit export bundles."
    )
    email_host_password: str | None = setting(
        "BRAIN_EMAIL_HOST_PASSWORD", "secret", None, "Password on the SMTP server."
    )
    metrics_token: str | None = setting(
        "BRAIN_METRICS_TOKEN",
        "secret",
        None,
        "Bearer token that opens /metrics from non-loopback addresses.",
    )
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_production(self) -> bool:
        return self.deployment == "production"

    def secret_values(self) -> list[str]:
        """Every secret value that is set, for the log redaction processor."""
        values = [getattr(self, s.attr) for s in SETTINGS if s.is_secret]
        values += [_url_password(self.database_url), _url_password(self.redis_url)]
        return [v for v in values if v and len(v) >= 6]

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, source) for every setting; secrets as [set]/[unset]."""
        rows = []
        for s in SETTINGS:
            value = getattr(self, s.attr)
            if s.is_secret:
                shown = "[set]" if value else "[unset]"
            elif s.kind == "url":
                shown = redact_url(value) if value else "[unset]"
            else:
                shown = render_value(s, value)
            rows.append((s.name, shown or "(empty)", self.sources.get(s.name, "default")))
        return rows


# The contract, read off BrainConfig's fields.
SETTINGS: tuple[Setting, ...] = tuple(
    dataclasses.replace(f.metadata[_SETTING], attr=f.name)
    for f in dataclasses.fields(BrainConfig)
    if _SETTING in f.metadata
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def render_value(setting: Setting, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value.total_seconds())
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def redact_url(url: str) -> str:
    """Hide the password of a service URL: postgres://brain:[redacted]@db/brain."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":[redacted]@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _fail(setting: Setting, raw: str, reason: str = "") -> ConfigError:
    shown = "[hidden]" if setting.is_secret else repr(raw)
    why = f" ({reason})" if reason else ""
    has_default = setting.default not in (None, "", ())
    default = render_value(setting, _default(setting)) if has_default else "none"
    return ConfigError(
        f"{setting.name}={shown} is invalid{why}: allowed {setting.allowed()}; "
        f"fix: set {setting.name} to a value in that range or unset it to use the default "
        f"({default})."
    )


def _parse(setting: Setting, raw: str) -> Any:
    raw_stripped = raw.strip()
    kind = setting.kind
    if kind == "bool":
        lowered = raw_stripped.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise _fail(setting, raw)
    if kind == "int":
        try:
            value: Any = int(raw_stripped)
        except ValueError:
            raise _fail(setting, raw, "not a whole number") from None
        return _bounded(setting, raw, value)
    if kind == "float":
        try:
            value = float(raw_stripped)
        except ValueError:
            raise _fail(setting, raw, "not a number") from None
        return _bounded(setting, raw, value)
    if kind == "duration":
        match = DURATION_RE.match(raw_stripped.lower())
        if not match:
            raise _fail(setting, raw, "not a duration")
        seconds = int(match.group(1)) * DURATION_UNITS[match.group(2)]
        return timedelta(seconds=_bounded(setting, raw, seconds))
    if kind == "choice":
        for choice in setting.choices:
            if raw_stripped.lower() == choice.lower():
                return choice
        raise _fail(setting, raw)
    if kind == "list":
        return tuple(item.strip() for item in raw_stripped.split(",") if item.strip())
    if kind == "slug":
        if raw_stripped and not SLUG_RE.match(raw_stripped):
            raise _fail(setting, raw)
        return raw_stripped
    if kind == "slugs":
        slugs = tuple(item.strip() for item in raw_stripped.split(",") if item.strip())
        if any(not SLUG_RE.match(slug) for slug in slugs):
            raise _fail(setting, raw)
        return slugs
    if kind == "url":
        parts = urlsplit(raw_stripped)
        if not parts.scheme or not (parts.netloc or parts.path):
            raise _fail(setting, raw, "not a URL")
        return raw_stripped
    if kind == "str":
        if setting.name == "BRAIN_ADMIN_PATH" and (
            not raw_stripped.endswith("/") or raw_stripped.startswith("/") or raw_stripped == "/"
        ):
            raise ConfigError(
                f"BRAIN_ADMIN_PATH={raw!r} is invalid: allowed a relative path ending with '/', "
                "such as 'admin/' or 'ops/backoffice/'; "
                "fix: drop the leading '/' and end it with '/'."
            )
        return raw_stripped
    if kind == "secret":
        return raw_stripped or None
    raise AssertionError(f"unknown setting kind {kind}")


def _bounded(setting: Setting, raw: str, value: float) -> Any:
    if setting.low is not None and value < setting.low:
        raise _fail(setting, raw, "too small")
    if setting.high is not None and value > setting.high:
        raise _fail(setting, raw, "too large")
    return value


def _default(setting: Setting) -> Any:
    if setting.kind == "duration" and setting.default is not None:
        return timedelta(seconds=setting.default)
    return setting.default


def _read_secret_file(setting: Setting, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"{setting.name}_FILE={path!r} cannot be read ({exc.strerror}): "
            f"allowed a readable file holding the secret; "
            f"fix: point {setting.name}_FILE at an existing file or set {setting.name}."
        ) from None


def load_config(environ_map: Mapping[str, str] | None = None) -> BrainConfig:
    """Read, type-check and bound every setting.

    Raises ``ConfigError`` (one line) on a bad value.
    """
    env = environ.Env()
    source: Mapping[str, str] = env.ENVIRON if environ_map is None else environ_map
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        raw = source.get(setting.name)
        file_path = source.get(f"{setting.name}_FILE")
        if setting.is_secret and file_path and raw:
            raise ConfigError(
                f"{setting.name} and {setting.name}_FILE are both set: allowed one of them; "
                f"fix: unset one."
            )
        if setting.is_secret and file_path:
            raw = _read_secret_file(setting, file_path)
            sources[setting.name] = "file"
        elif raw is not None and raw.strip() != "":
            sources[setting.name] = "env"
        if raw is None or raw.strip() == "":
            if setting.required:
                allowed = "a secret value" if setting.is_secret else setting.allowed()
                raise ConfigError(
                    f"{setting.name} is unset: allowed {allowed}; "
                    f"fix: set {setting.name}"
                    + (f" or {setting.name}_FILE" if setting.is_secret else "")
                    + (
                        " (or run `make run`, which provides it)"
                        if setting.name in _MAKE_RUN_PROVIDES
                        else ""
                    )
                    + "."
                )
            values[setting.attr] = _default(setting)
            continue
        values[setting.attr] = _parse(setting, raw)
    return BrainConfig(**values, sources=sources)


_MAKE_RUN_PROVIDES = {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"}


def replace(config: BrainConfig, **changes: Any) -> BrainConfig:
    """A copy with some values changed (tests and system checks use it)."""
    return dataclasses.replace(config, **changes)


def env_example_lines(render: Callable[[Setting], str] | None = None) -> list[str]:
    """The lines of `.env.example`, generated from the contract so the two never disagree."""
    lines = [
        "# Studio Brain configuration. Every variable, its default and its allowed range.",
        "# Secrets have no default; set NAME or NAME_FILE (a path to a file holding it).",
        "",
    ]
    for s in SETTINGS:
        lines.append(f"# {s.help} Allowed: {s.allowed()}.")
        if s.is_secret:
            lines.append(f"# {s.name}=")
            lines.append(f"# {s.name}_FILE=")
        elif s.default is None:
            lines.append(f"# {s.name}=")
        else:
            lines.append(f"{s.name}={render_value(s, _default(s))}")
        lines.append("")
    return lines
