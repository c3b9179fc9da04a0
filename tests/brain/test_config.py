"""The configuration contract: defaults, parsing, ranges, secrets and their redaction."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from brain.config import SETTINGS, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "manage.py")

BASE = {
    "DJANGO_SECRET_KEY": "contract-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "DATABASE_URL": "postgres://brain@127.0.0.1:5432/brain",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def env(**values: str) -> dict[str, str]:
    return {**BASE, **values}


def manage(*args: str, **environment: str | None) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh interpreter with the test environment plus these changes."""
    child_env = dict(os.environ)
    for name, value in environment.items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    return subprocess.run(
        [sys.executable, MANAGE, *args],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line(message: str) -> None:
    assert message.strip()
    assert "\n" not in message.strip()


# --- defaults ---------------------------------------------------------------------------


def test_it_uses_the_documented_defaults_when_nothing_optional_is_set():
    config = load_config(BASE)

    assert config.deployment == "development"
    assert config.debug is False
    assert config.allowed_hosts == ("127.0.0.1", "localhost")
    assert config.scan_limit == 2000
    assert config.job_interval == timedelta(minutes=15)
    assert config.snapshot_max_age == timedelta(minutes=240)
    assert config.retention_days == 180
    assert config.drift_absolute == 25
    assert config.reconciliation_stale_stripe_read == timedelta(hours=24)
    assert config.reconciliation_pending_checkout_age == timedelta(hours=24)
    assert config.drift_ratio == 0.5
    assert config.enable_write_execution is False
    assert config.require_approval_for_external_writes is True
    assert config.stripe_read_only is True
    assert config.default_studio == ""
    assert config.allowed_studios == ()
    assert config.session_idle_timeout == timedelta(minutes=30)
    assert config.login_failure_limit == 5
    assert config.admin_path == "admin/"
    assert config.stripe_api_key is None
    assert config.metrics_token is None
    assert config.is_production is False


def test_it_records_where_each_value_came_from():
    config = load_config(env(BRAIN_SCAN_LIMIT="300"))
    sources = {name: source for name, _, source in config.describe()}

    assert sources["BRAIN_SCAN_LIMIT"] == "env"
    assert sources["BRAIN_RETENTION_DAYS"] == "default"


@pytest.mark.parametrize("required", ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_it_refuses_to_start_without_a_required_value(required):
    values = dict(BASE)
    del values[required]

    with pytest.raises(ConfigError) as error:
        load_config(values)

    message = str(error.value)
    assert_one_line(message)
    assert message.startswith(f"{required} is unset")
    assert f"fix: set {required}" in message


# --- each kind parses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("Off", False),
    ],
)
def test_it_reads_booleans_in_their_usual_spellings(raw, expected):
    assert load_config(env(BRAIN_DEMO_MODE=raw)).demo_mode is expected


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("900", 900), ("900s", 900), ("15m", 900), ("15 min", 900), ("4h", 14400), ("1d", 86400)],
)
def test_it_reads_durations_with_units(raw, seconds):
    assert load_config(env(BRAIN_JOB_INTERVAL=raw)).job_interval == timedelta(seconds=seconds)


def test_it_reads_numbers_choices_lists_and_slugs():
    config = load_config(
        env(
            BRAIN_SCAN_LIMIT=" 750 ",
            BRAIN_DRIFT_RATIO="0.25",
            BRAIN_DEPLOYMENT="Production",
            BRAIN_LOG_LEVEL="debug",
            DJANGO_ALLOWED_HOSTS="brain.example, ops.brain.example,",
            BRAIN_DEFAULT_STUDIO="north-kiln",
            BRAIN_ALLOWED_STUDIOS="north-kiln, south-clay",
            BRAIN_ADMIN_PATH="ops/backoffice/",
            BRAIN_FIRESTORE_PROJECT="studio-prod",
        )
    )

    assert config.scan_limit == 750
    assert config.drift_ratio == 0.25
    assert config.deployment == "production"
    assert config.is_production is True
    assert config.log_level == "DEBUG"
    assert config.allowed_hosts == ("brain.example", "ops.brain.example")
    assert config.default_studio == "north-kiln"
    assert config.allowed_studios == ("north-kiln", "south-clay")
    assert config.admin_path == "ops/backoffice/"
    assert config.firestore_project == "studio-prod"


def test_an_empty_value_means_the_default():
    assert load_config(env(BRAIN_SCAN_LIMIT="  ")).scan_limit == 2000


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("BRAIN_DEMO_MODE", "maybe"),
        ("BRAIN_SCAN_LIMIT", "lots"),
        ("BRAIN_SCAN_LIMIT", "1e3"),
        ("BRAIN_DRIFT_RATIO", "half"),
        ("BRAIN_JOB_INTERVAL", "fortnight"),
        ("BRAIN_JOB_INTERVAL", "-5m"),
        ("BRAIN_DEPLOYMENT", "staging"),
        ("BRAIN_DEFAULT_STUDIO", "North_Kiln"),
        ("BRAIN_ALLOWED_STUDIOS", "north-kiln,South Clay"),
        ("DATABASE_URL", "not a url"),
        ("BRAIN_ADMIN_PATH", "/admin/"),
        ("BRAIN_ADMIN_PATH", "admin"),
    ],
)
def test_it_rejects_a_malformed_value_with_one_line_naming_the_variable(name, raw):
    with pytest.raises(ConfigError) as error:
        load_config(env(**{name: raw}))

    message = str(error.value)
    assert_one_line(message)
    assert message.startswith(f"{name}={raw!r} is invalid")
    assert "allowed" in message
    assert "fix:" in message


# --- ranges -----------------------------------------------------------------------------

# (variable, just below, just above, the allowed range as the message states it)
RANGES = [
    ("BRAIN_SESSION_IDLE_TIMEOUT", "299", "43201", "5 min to 12 h"),
    ("BRAIN_REAUTH_WINDOW", "59", "3601", "1 min to 1 h"),
    ("BRAIN_PASSKEY_CHALLENGE_TTL", "29", "601", "30 s to 10 min"),
    ("BRAIN_LOGIN_FAILURE_LIMIT", "2", "21", "3 to 20"),
    ("BRAIN_LOGIN_ADDRESS_FAILURE_LIMIT", "49", "10001", "50 to 10000"),
    ("BRAIN_LOGIN_LOCKOUT", "59", "86401", "1 min to 1 d"),
    ("BRAIN_READYZ_WORKER_TIMEOUT", "0", "31", "1 s to 30 s"),
    ("BRAIN_SCAN_LIMIT", "49", "20001", "50 to 20000"),
    ("BRAIN_JOB_INTERVAL", "9", "86401", "10 s to 1 d"),
    ("BRAIN_SNAPSHOT_MAX_AGE", "4m", "8d", "5 min to 7 d"),
    ("BRAIN_CONNECTOR_POLL_INTERVAL", "9", "3601", "10 s to 1 h"),
    ("BRAIN_RETENTION_DAYS", "6", "3651", "7 to 3650"),
    ("BRAIN_DRIFT_ABSOLUTE", "0", "100001", "1 to 100000"),
    ("BRAIN_DRIFT_RATIO", "0.001", "10.5", "0.01 to 10"),
    ("BRAIN_RECONCILIATION_STALE_STRIPE_READ", "59m", "31d", "1 h to 30 d"),
    ("BRAIN_RECONCILIATION_PENDING_CHECKOUT_AGE", "9m", "31d", "10 min to 30 d"),
    ("BRAIN_PROPOSAL_TTL", "59m", "31d", "1 h to 30 d"),
    ("BRAIN_APPROVAL_WINDOW", "4m", "8d", "5 min to 7 d"),
    ("BRAIN_EXEMPTION_MAX_DAYS", "0", "31", "1 to 30"),
    ("BRAIN_QUOTA_WINDOW", "59", "86401", "1 min to 1 d"),
    ("BRAIN_RATE_LIMIT_PROPOSAL_CREATE", "0", "10001", "1 to 10000"),
    ("BRAIN_RATE_LIMIT_EXECUTE", "0", "10001", "1 to 10000"),
    ("BRAIN_RATE_LIMIT_INTAKE_OVERRIDE", "0", "10001", "1 to 10000"),
    ("BRAIN_RATE_LIMIT_MARKETING_REVIEW", "0", "10001", "1 to 10000"),
    ("BRAIN_AGENT_TOKEN_TTL", "59m", "366d", "1 h to 365 d"),
    ("BRAIN_NOTIFY_DIGEST_INTERVAL", "4m", "25h", "5 min to 1 d"),
    ("BRAIN_NOTIFY_MAX_ATTEMPTS", "0", "21", "1 to 20"),
    ("BRAIN_NOTIFY_RETRY_BACKOFF", "0", "61m", "1 s to 1 h"),
    ("BRAIN_NOTIFY_WEBHOOK_TIMEOUT", "0", "61", "1 s to 1 min"),
    ("BRAIN_EMAIL_PORT", "0", "65536", "1 to 65535"),
]


def test_every_ranged_setting_has_its_bounds_tested_here():
    ranged = {s.name for s in SETTINGS if s.low is not None or s.high is not None}
    assert ranged == {name for name, *_ in RANGES}


@pytest.mark.parametrize(("name", "below", "above", "allowed"), RANGES)
def test_it_rejects_values_outside_the_range_with_one_line_and_the_fix(name, below, above, allowed):
    for raw, why in ((below, "too small"), (above, "too large")):
        with pytest.raises(ConfigError) as error:
            load_config(env(**{name: raw}))
        message = str(error.value)
        assert_one_line(message)
        assert message.startswith(f"{name}={raw!r} is invalid ({why})")
        assert f"allowed {allowed}" in message
        assert f"fix: set {name} to a value in that range" in message


@pytest.mark.parametrize(("name", "below", "above", "allowed"), RANGES)
def test_it_accepts_the_range_ends(name, below, above, allowed):
    setting = next(s for s in SETTINGS if s.name == name)
    for bound in (setting.low, setting.high):
        raw = str(int(bound)) if float(bound).is_integer() else str(bound)
        config = load_config(env(**{name: raw}))
        value = getattr(config, setting.attr)
        if isinstance(value, timedelta):
            value = value.total_seconds()
        assert value == bound


# --- secrets ----------------------------------------------------------------------------


def test_a_secret_can_be_given_directly():
    config = load_config(env(BRAIN_STRIPE_API_KEY="rk_test_direct123456"))
    assert config.stripe_api_key == "rk_test_direct123456"


def test_a_secret_can_be_read_from_a_mounted_file(tmp_path):
    path = tmp_path / "stripe-key"
    path.write_text("rk_test_fromfile123456\n", encoding="utf-8")

    config = load_config(env(BRAIN_STRIPE_API_KEY_FILE=str(path)))

    assert config.stripe_api_key == "rk_test_fromfile123456"
    assert dict((n, s) for n, _, s in config.describe())["BRAIN_STRIPE_API_KEY"] == "file"


def test_the_django_secret_key_can_come_from_a_file(tmp_path):
    path = tmp_path / "secret-key"
    path.write_text("a-secret-key-from-a-file-0123456789", encoding="utf-8")
    values = env(DJANGO_SECRET_KEY_FILE=str(path))
    del values["DJANGO_SECRET_KEY"]

    assert load_config(values).secret_key == "a-secret-key-from-a-file-0123456789"


def test_a_secret_given_both_ways_is_refused(tmp_path):
    path = tmp_path / "token"
    path.write_text("from-the-file-123456", encoding="utf-8")

    with pytest.raises(ConfigError) as error:
        load_config(
            env(BRAIN_METRICS_TOKEN="from-the-env-123456", BRAIN_METRICS_TOKEN_FILE=str(path))
        )

    message = str(error.value)
    assert_one_line(message)
    assert "BRAIN_METRICS_TOKEN and BRAIN_METRICS_TOKEN_FILE are both set" in message
    assert "fix: unset one" in message
    assert "from-the-env-123456" not in message
    assert "from-the-file-123456" not in message


def test_an_unreadable_secret_file_is_one_line_naming_the_file(tmp_path):
    missing = tmp_path / "nope" / "audit-key"

    with pytest.raises(ConfigError) as error:
        load_config(env(BRAIN_AUDIT_SIGNING_KEY_FILE=str(missing)))

    message = str(error.value)
    assert_one_line(message)
    assert message.startswith(f"BRAIN_AUDIT_SIGNING_KEY_FILE={str(missing)!r} cannot be read")
    assert "fix: point BRAIN_AUDIT_SIGNING_KEY_FILE at an existing file" in message


def test_describe_shows_secrets_as_set_or_unset_and_never_their_value():
    config = load_config(
        env(
            BRAIN_STRIPE_API_KEY="rk_test_neverprint987654",
            BRAIN_METRICS_TOKEN="metrics-token-xyz-987",
        )
    )
    shown = {name: value for name, value, _ in config.describe()}

    assert shown["BRAIN_STRIPE_API_KEY"] == "[set]"
    assert shown["BRAIN_METRICS_TOKEN"] == "[set]"
    assert shown["DJANGO_SECRET_KEY"] == "[set]"
    assert shown["BRAIN_AUDIT_SIGNING_KEY"] == "[unset]"
    rendered = repr(config.describe())
    for secret in ("rk_test_neverprint987654", "metrics-token-xyz-987", BASE["DJANGO_SECRET_KEY"]):
        assert secret not in rendered


def test_describe_hides_passwords_in_service_urls():
    config = load_config(
        env(
            DATABASE_URL="postgres://brain:db-hunter2-pass@db.internal:5432/brain",
            REDIS_URL="redis://:redis-hunter2-pass@cache.internal:6379/1",
        )
    )
    shown = {name: value for name, value, _ in config.describe()}

    assert shown["DATABASE_URL"] == "postgres://brain:[redacted]@db.internal:5432/brain"
    assert shown["REDIS_URL"] == "redis://:[redacted]@cache.internal:6379/1"
    assert "db-hunter2-pass" in config.secret_values()
    assert "redis-hunter2-pass" in config.secret_values()


def test_config_show_prints_secrets_as_set_and_hides_their_values():
    result = manage(
        "config",
        "show",
        BRAIN_STRIPE_API_KEY="rk_test_showcommand0042",
        BRAIN_EXPORT_SIGNING_KEY="export-signing-secret-0042",
        BRAIN_METRICS_TOKEN=None,
        DATABASE_URL="postgres://postgres:pg-password-0042@127.0.0.1:5432/brain_tests",
    )

    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "[set]" in lines["BRAIN_STRIPE_API_KEY"]
    assert "[set]" in lines["BRAIN_EXPORT_SIGNING_KEY"]
    assert "[set]" in lines["DJANGO_SECRET_KEY"]
    assert "[unset]" in lines["BRAIN_METRICS_TOKEN"]
    assert "postgres:[redacted]@127.0.0.1" in lines["DATABASE_URL"]
    output = result.stdout + result.stderr
    for secret in (
        "rk_test_showcommand0042",
        "export-signing-secret-0042",
        "pg-password-0042",
        os.environ["DJANGO_SECRET_KEY"],
    ):
        assert secret not in output
    assert {name for name in lines} == {s.name for s in SETTINGS}


def test_check_with_a_bad_value_exits_2_with_exactly_one_line_and_no_traceback():
    result = manage("check", BRAIN_RETENTION_DAYS="5")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr == (
        "configuration error: BRAIN_RETENTION_DAYS='5' is invalid (too small): allowed 7 to 3650; "
        "fix: set BRAIN_RETENTION_DAYS to a value in that range or unset it to use the default "
        "(180).\n"
    )
    assert "Traceback" not in result.stderr


def test_check_without_a_secret_key_exits_2_with_one_line():
    result = manage("check", DJANGO_SECRET_KEY=None, DJANGO_SECRET_KEY_FILE=None)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("configuration error: DJANGO_SECRET_KEY is unset")


def test_env_example_is_the_generated_contract():
    result = manage("config", "example")

    assert result.returncode == 0, result.stderr
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == result.stdout


def test_env_example_lists_every_variable_with_its_default():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")

    for setting in SETTINGS:
        assert setting.name in example
    assert "\nBRAIN_SCAN_LIMIT=2000\n" in example
    assert "\nBRAIN_ENABLE_WRITE_EXECUTION=false\n" in example
    assert "\n# BRAIN_STRIPE_API_KEY_FILE=\n" in example


def test_each_setting_is_declared_once_as_a_config_field():
    import dataclasses

    from brain.config import BY_NAME, BrainConfig

    fields = [f.name for f in dataclasses.fields(BrainConfig) if f.name != "sources"]
    # The contract is read off the fields: one per field, in field order, named after it.
    assert [s.attr for s in SETTINGS] == fields
    assert len(BY_NAME) == len(SETTINGS)
    config = load_config(BASE)
    assert {s.name: getattr(config, s.attr) for s in SETTINGS}.keys() == BY_NAME.keys()
