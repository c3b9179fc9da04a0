"""Every cross-setting rule in brain/checks.py fires on the bad combination and only then."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from brain import checks
from brain.config import replace

ROOT = Path(__file__).resolve().parents[2]


def run_with(check: Callable[..., list[Any]], **changes: Any) -> list[Any]:
    with override_settings(BRAIN=replace(settings.BRAIN, **changes)):
        return check(None)


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


# (check, the bad combination, a good combination next to it, id, level)
CASES = [
    (
        checks.check_writes_need_approval,
        {
            "enable_write_execution": True,
            "require_approval_for_external_writes": False,
            "audit_signing_key": "audit-key-123456",
        },
        {
            "enable_write_execution": True,
            "require_approval_for_external_writes": True,
            "audit_signing_key": "audit-key-123456",
        },
        "brain.E001",
        Error,
    ),
    (
        checks.check_default_studio_allowed,
        {"default_studio": "north-kiln", "allowed_studios": ("south-clay",)},
        {"default_studio": "north-kiln", "allowed_studios": ("south-clay", "north-kiln")},
        "brain.E002",
        Error,
    ),
    (
        checks.check_writes_have_audit_key,
        {"enable_write_execution": True, "audit_signing_key": None},
        {"enable_write_execution": True, "audit_signing_key": "audit-key-123456"},
        "brain.E003",
        Error,
    ),
    (
        checks.check_snapshots_can_be_fresh,
        {"job_interval": timedelta(hours=4), "snapshot_max_age": timedelta(hours=4)},
        {"job_interval": timedelta(minutes=239), "snapshot_max_age": timedelta(hours=4)},
        "brain.E004",
        Error,
    ),
    (
        checks.check_stripe_read_only,
        {"stripe_read_only": False},
        {"stripe_read_only": True},
        "brain.E005",
        Error,
    ),
    (
        checks.check_production_hosts,
        {"deployment": "production", "allowed_hosts": ("brain.example", "*"), "debug": False},
        {"deployment": "production", "allowed_hosts": ("brain.example",), "debug": False},
        "brain.E006",
        Error,
    ),
    (
        checks.check_production_hosts,
        {"deployment": "production", "allowed_hosts": ("brain.example",), "debug": True},
        {"deployment": "development", "allowed_hosts": ("brain.example",), "debug": True},
        "brain.E007",
        Error,
    ),
    (
        checks.check_demo_mode_is_read_only,
        {"demo_mode": True, "enable_write_execution": True},
        {"demo_mode": True, "enable_write_execution": False},
        "brain.E008",
        Error,
    ),
    (
        checks.check_passkey_origins,
        {"passkey_rp_id": "brain.example.org", "passkey_origins": ("https://brain.evil.org",)},
        {
            "passkey_rp_id": "example.org",
            "passkey_origins": ("https://brain.example.org", "https://example.org:8443"),
        },
        "brain.E009",
        Error,
    ),
    (
        checks.check_admin_path,
        {"deployment": "production", "admin_path": "admin/"},
        {"deployment": "production", "admin_path": "ops-console/"},
        "brain.W001",
        Warning,
    ),
]


def test_every_check_id_in_the_module_is_tested_here():
    source = (ROOT / "brain" / "checks.py").read_text(encoding="utf-8")
    assert set(re.findall(r'id="(brain\.[EW]\d{3})"', source)) == {case[3] for case in CASES}


@pytest.mark.parametrize(
    ("check", "bad", "good", "check_id", "level"), CASES, ids=[c[3] for c in CASES]
)
def test_the_check_fires_on_the_bad_combination_only(check, bad, good, check_id, level):
    fired = run_with(check, **bad)
    assert ids(fired) == [check_id]
    assert type(fired[0]) is level
    assert fired[0].hint

    assert run_with(check, **good) == []


def test_the_default_configuration_passes_every_brain_check():
    for check, *_ in CASES:
        assert check(None) == []


def test_allowed_studios_empty_means_any_default_studio_is_fine():
    assert (
        run_with(
            checks.check_default_studio_allowed, default_studio="north-kiln", allowed_studios=()
        )
        == []
    )


def test_the_check_command_refuses_a_bad_combination():
    with (
        override_settings(BRAIN=replace(settings.BRAIN, stripe_read_only=False)),
        pytest.raises(SystemCheckError) as error,
    ):
        call_command("check")
    assert "brain.E005" in str(error.value)


def test_the_check_command_passes_the_default_configuration(capsys):
    call_command("check")
    assert "no issues" in capsys.readouterr().out


def production_env(**changes: str) -> dict[str, str]:
    """The test environment turned into a production one (no test-only switches)."""
    child_env = {
        **os.environ,
        "BRAIN_DEPLOYMENT": "production",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "BRAIN_ADMIN_PATH": "ops-console/",
        "DJANGO_ALLOWED_HOSTS": "brain.example",
        **changes,
    }
    # pytest sets this for Playwright; a deployment must not (Django's async.E001).
    child_env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return child_env


def check_deploy(child_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = check_deploy(production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_about_the_default_admin_path_in_production():
    result = check_deploy(production_env(BRAIN_ADMIN_PATH="admin/"))

    assert result.returncode == 1
    assert "brain.W001" in result.stderr
    assert "security.W" not in result.stderr


def test_check_deploy_refuses_debug_in_production():
    result = check_deploy(production_env(DJANGO_DEBUG="true"))

    assert result.returncode == 1
    assert "brain.E007" in result.stderr
