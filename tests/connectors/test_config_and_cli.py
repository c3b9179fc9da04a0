"""Configuring connectors: the CLI and the admin form name bad fields; secrets stay in the env."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connectors.admin import ConnectorConfigForm
from connectors.models import ConnectorConfig, ConnectorHealth, DeviceReading

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("connector", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_json(*args: str) -> tuple[dict, int]:
    """Run `connector ... --json`: (the one JSON document on stdout, the exit code)."""
    out = StringIO()
    try:
        call_command("connector", *args, "--json", stdout=out, stderr=StringIO())
        code = 0
    except CommandError as error:
        code = error.returncode
    return json.loads(out.getvalue()), code


def add_hub(peer, name="hub1", studio="north-kiln"):
    return run(
        "add",
        "--studio",
        studio,
        "--kind",
        "hubitat",
        "--name",
        name,
        "--setting",
        f"host={peer.url}",
        "--setting",
        "app_id=12",
        "--secret",
        "token=TEST_HUBITAT_TOKEN",
    )


def test_cli_add_refuses_bad_settings_naming_the_field_and_why(studio):
    with pytest.raises(CommandError) as caught:
        run(
            "add",
            "--studio",
            studio.slug,
            "--kind",
            "hubitat",
            "--name",
            "hub1",
            "--setting",
            "host=hub.local",
            "--setting",
            "app_id=12",
            "--secret",
            "token=HUBITAT_TOKEN",
        )
    assert "host: must start with http:// or https://" in str(caught.value)
    assert not ConnectorConfig.objects.exists()


def test_cli_add_requires_the_secret_to_be_named(studio):
    with pytest.raises(CommandError, match=r"secrets.token: is required"):
        run(
            "add",
            "--studio",
            studio.slug,
            "--kind",
            "hubitat",
            "--name",
            "hub1",
            "--setting",
            "host=http://hub",
            "--setting",
            "app_id=12",
        )


def test_cli_add_stores_the_variable_name_never_the_secret(studio, hubitat_peer, monkeypatch):
    monkeypatch.setenv("TEST_HUBITAT_TOKEN", hubitat_peer.token)
    assert "added hubitat connector hub1" in add_hub(hubitat_peer)
    config = ConnectorConfig.objects.get()
    assert config.secret_env == {"token": "TEST_HUBITAT_TOKEN"}
    assert hubitat_peer.token not in json.dumps([config.settings, config.secret_env])
    assert "north-kiln\thub1\thubitat\tread_only\tenabled\ttoken=$TEST_HUBITAT_TOKEN" in run("list")


def test_cli_check_and_read_work_against_the_peer(studio, hubitat_peer, monkeypatch):
    monkeypatch.setenv("TEST_HUBITAT_TOKEN", hubitat_peer.token)
    add_hub(hubitat_peer)
    health, code = run_json("check", "--studio", "north-kiln", "hub1")
    assert code == 0
    assert (health["availability"], health["devices_total"], health["error"]) == (
        "healthy",
        6,
        None,
    )
    assert health["request_id"].startswith("cli-")
    devices = run_json("read", "--studio", "north-kiln", "hub1", "--query", "devices")[0]["devices"]
    assert len(devices) == 6 and devices[0]["last_seen"]
    assert DeviceReading.objects.count() == 6
    readable = run("read", "--studio", "north-kiln", "hub1").splitlines()
    assert [line.split("\t")[0] for line in readable] == [device["id"] for device in devices]
    assert all("last seen " in line for line in readable)


def test_cli_check_of_an_unreachable_host_reports_unavailable_in_the_health_row(
    studio, monkeypatch
):
    from tests.peers.hubitat_peer import free_port

    monkeypatch.setenv("TEST_HUBITAT_TOKEN", "whatever-token")
    run(
        "add",
        "--studio",
        studio.slug,
        "--kind",
        "hubitat",
        "--name",
        "hub1",
        "--setting",
        f"host=http://127.0.0.1:{free_port()}",
        "--setting",
        "app_id=12",
        "--setting",
        "retry_attempts=1",
        "--secret",
        "token=TEST_HUBITAT_TOKEN",
    )
    health, code = run_json("check", "--studio", studio.slug, "hub1")
    assert code == 1  # a failed check
    assert (health["availability"], health["error"]["code"]) == ("down", "UNAVAILABLE")
    assert ConnectorHealth.objects.get().error_code == "UNAVAILABLE"


def test_a_missing_secret_variable_is_a_down_sample_naming_the_variable(
    studio, hubitat_peer, monkeypatch
):
    monkeypatch.delenv("TEST_HUBITAT_TOKEN", raising=False)
    add_hub(hubitat_peer)
    health, code = run_json("check", "--studio", "north-kiln", "hub1")
    assert code == 1
    assert health["availability"] == "down"
    assert "TEST_HUBITAT_TOKEN" in health["error"]["message"]


def test_secrets_may_come_from_a_file(studio, hubitat_peer, monkeypatch, tmp_path):
    secret = tmp_path / "token"
    secret.write_text(hubitat_peer.token + "\n")
    monkeypatch.setenv("TEST_HUBITAT_TOKEN_FILE", str(secret))
    monkeypatch.delenv("TEST_HUBITAT_TOKEN", raising=False)
    add_hub(hubitat_peer)
    health, code = run_json("check", "--studio", "north-kiln", "hub1")
    assert (health["availability"], code) == ("healthy", 0)


def test_cli_refuses_an_unknown_studio_or_connector(studio):
    with pytest.raises(CommandError, match="no studio 'nowhere'"):
        run("check", "--studio", "nowhere", "hub1")
    with pytest.raises(CommandError, match="no connector 'ghost'"):
        run("read", "--studio", studio.slug, "ghost")


def test_admin_form_names_the_bad_setting_and_why(studio):
    form = ConnectorConfigForm(
        data={
            "studio": studio.pk,
            "kind": "hubitat",
            "name": "hub1",
            "settings": json.dumps({"host": "http://hub", "app_id": -3}),
            "secret_env": json.dumps({"token": "HUBITAT_TOKEN"}),
            "enabled": True,
            "mode": "read_only",
        }
    )
    assert not form.is_valid()
    assert form.errors["settings"] == ["app_id: Input should be greater than or equal to 1"]


def test_admin_form_refuses_a_secret_value_where_a_variable_name_belongs(studio):
    form = ConnectorConfigForm(
        data={
            "studio": studio.pk,
            "kind": "hubitat",
            "name": "hub1",
            "settings": json.dumps({"host": "http://hub", "app_id": 3}),
            "secret_env": json.dumps({"token": "abc-def-123"}),
            "enabled": True,
            "mode": "read_only",
        }
    )
    assert not form.is_valid()
    assert "is not an environment variable name" in form.errors["secret_env"][0]
    assert (
        "abc-def-123" in form.errors["secret_env"][0]
    )  # it names the bad value so the admin can fix it


def test_admin_form_accepts_valid_settings(studio):
    form = ConnectorConfigForm(
        data={
            "studio": studio.pk,
            "kind": "hubitat",
            "name": "hub1",
            "settings": json.dumps({"host": "http://hub", "app_id": 3}),
            "secret_env": json.dumps({"token": "HUBITAT_TOKEN"}),
            "enabled": True,
            "mode": "read_only",
        }
    )
    assert form.is_valid(), form.errors
