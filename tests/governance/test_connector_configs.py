"""Connector configuration is governed: add, change and remove are audited in the studio's
chain with the change (no secret values, only variable names); denials are audited too."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connectors.models import ConnectorConfig
from connectors.sdk.errors import ConfigurationError
from governance.actors import Actor
from governance.errors import Denied
from governance.models import AuditEvent
from governance.reasons import ReasonCode
from governance.services.connector_configs import (
    connector_config_add,
    connector_config_change,
    connector_config_remove,
)
from governance.services.kill_switches import kill_switch_engage
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db

HUB = {"host": "http://127.0.0.1:9", "app_id": 12}


def events(studio_id):
    return [
        (event.action, event.target_type, event.metadata)
        for event in AuditEvent.objects.filter(studio_id=studio_id).order_by("sequence")
    ]


def add(staff, actor=None, **extra):
    return connector_config_add(
        actor=actor or Actor.staff(staff.admin),
        studio=staff.studio,
        kind="hubitat",
        name="hub1",
        settings=HUB,
        secret_env={"token": "HUBITAT_TOKEN"},
        **extra,
    )


def test_adding_a_connector_is_audited_with_its_configuration(staff):
    config = add(staff)
    assert events(staff.studio.pk) == [
        (
            "connector.added",
            "connector",
            {
                "kind": "hubitat",
                "name": "hub1",
                "settings": config.settings,
                "secret_env": {"token": "HUBITAT_TOKEN"},
                "mode": "read_only",
                "enabled": True,
            },
        )
    ]


def test_a_change_is_audited_field_by_field_and_a_change_of_nothing_is_denied(staff):
    config = add(staff)
    connector_config_change(
        actor=Actor.staff(staff.admin), config_id=config.pk, enabled=False, mode="write_pilot"
    )
    config.refresh_from_db()
    assert (config.enabled, config.mode) == (False, "write_pilot")
    with pytest.raises(Denied) as denied:
        connector_config_change(actor=Actor.staff(staff.admin), config_id=config.pk, enabled=False)
    assert denied.value.code == ReasonCode.INPUT_INVALID
    assert events(staff.studio.pk)[1] == (
        "connector.changed",
        "connector",
        {
            "name": "hub1",
            "changes": {
                "mode": {"before": "read_only", "after": "write_pilot"},
                "enabled": {"before": True, "after": False},
            },
        },
    )
    assert [row[1:] for row in chain(staff.studio.pk)] == [
        ("connector.added", ""),
        ("connector.changed", ""),
        ("connector.change_denied", "INPUT_INVALID"),
    ]


def test_a_bad_change_names_the_field_and_changes_nothing(staff):
    config = add(staff)
    with pytest.raises(ConfigurationError):
        connector_config_change(
            actor=Actor.staff(staff.admin), config_id=config.pk, settings={"app_id": -1}
        )
    config.refresh_from_db()
    assert config.settings["app_id"] == 12
    assert [row[1] for row in chain(staff.studio.pk)] == ["connector.added"]


def test_removing_is_audited_and_a_connector_in_use_is_kept(staff):
    config = add(staff)
    connector_config_remove(actor=Actor.staff(staff.admin), config_id=config.pk)
    assert not ConnectorConfig.objects.exists()
    kept = add(staff)
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Rewiring the hub", connector=kept)
    with pytest.raises(Denied) as denied:
        connector_config_remove(actor=Actor.staff(staff.admin), config_id=kept.pk)
    assert denied.value.code == ReasonCode.CONNECTOR_IN_USE
    assert ConnectorConfig.objects.filter(pk=kept.pk).exists()
    assert [row[1:] for row in chain(staff.studio.pk)] == [
        ("connector.added", ""),
        ("connector.removed", ""),
        ("connector.added", ""),
        ("kill_switch.engaged", "BLOCKED_BY_POLICY"),
        ("connector.remove_denied", "CONNECTOR_IN_USE"),
    ]


def test_only_an_admin_configures_connectors(staff):
    with pytest.raises(Denied) as denied:
        add(staff, actor=Actor.staff(staff.approver))
    assert denied.value.code == ReasonCode.ROLE_REQUIRED
    with pytest.raises(Denied) as agent:
        add(staff, actor=Actor.agent("bot"))
    assert agent.value.code == ReasonCode.ACTOR_NOT_ALLOWED
    assert not ConnectorConfig.objects.exists()
    assert [row[1:] for row in chain(staff.studio.pk)] == [
        ("connector.add_denied", "ROLE_REQUIRED"),
        ("connector.add_denied", "ACTOR_NOT_ALLOWED"),
    ]


def connector_json(*args):
    out = StringIO()
    call_command("connector", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_the_cli_adds_changes_lists_and_removes_with_audit(staff):
    added = connector_json(
        "add",
        "--studio",
        "north-kiln",
        "--kind",
        "hubitat",
        "--name",
        "hub1",
        "--setting",
        "host=http://127.0.0.1:9",
        "--setting",
        "app_id=12",
        "--secret",
        "token=HUBITAT_TOKEN",
        "--as",
        "ada",
    )
    assert (added["name"], added["mode"], added["enabled"]) == ("hub1", "read_only", True)
    changed = connector_json(
        "change", "--studio", "north-kiln", "hub1", "--disable", "--setting", "app_id=13"
    )
    assert (changed["enabled"], changed["settings"]["app_id"]) == (False, 13)
    listed = connector_json("list", "--studio", "north-kiln")
    assert [c["name"] for c in listed["connectors"]] == ["hub1"]
    removed = connector_json("remove", "--studio", "north-kiln", "hub1", "--as", "ada")
    assert removed["removed"]
    actors = list(
        AuditEvent.objects.filter(studio=staff.studio)
        .order_by("sequence")
        .values_list("action", "actor_type")
    )
    assert actors == [
        ("connector.added", "staff"),
        ("connector.changed", "system"),
        ("connector.removed", "staff"),
    ]


def test_the_cli_exits_2_on_bad_settings_and_1_on_a_denial(staff):
    with pytest.raises(CommandError, match="invalid connector") as bad:
        connector_json(
            "add",
            "--studio",
            "north-kiln",
            "--kind",
            "hubitat",
            "--name",
            "hub1",
            "--setting",
            "host=http://127.0.0.1:9",
            "--setting",
            "app_id=-3",
            "--secret",
            "token=HUBITAT_TOKEN",
        )
    assert bad.value.returncode == 2
    with pytest.raises(CommandError, match=r"^denied ROLE_REQUIRED") as denied:
        connector_json(
            "add",
            "--studio",
            "north-kiln",
            "--kind",
            "hubitat",
            "--name",
            "hub1",
            "--setting",
            "host=http://127.0.0.1:9",
            "--setting",
            "app_id=3",
            "--secret",
            "token=HUBITAT_TOKEN",
            "--as",
            "otto",
        )
    assert denied.value.returncode == 1
