import dataclasses

import pytest

from governance.capabilities import CAPABILITIES, REGISTRY, CapabilityUnknown, capability_spec
from governance.enums import Mode, Risk
from governance.models import Capability
from governance.services.capabilities import capability_sync

DOMAIN_TABLE = {
    "firestore.ops_note.append": (Mode.WRITE, True, 8, Risk.MEDIUM),
    # Not in docs/domain.md's table: the append's rollback, its own capability (docs/capabilities.md).
    "firestore.ops_note.rollback": (Mode.WRITE, True, 8, Risk.MEDIUM),
    "firestore.batch.close": (Mode.WRITE, True, 5, Risk.HIGH),
    "finance.reconciliation.adjust": (Mode.WRITE, True, 5, Risk.MEDIUM),
    "hubitat.devices.read": (Mode.READ, False, 120, Risk.LOW),
    "roborock.devices.read": (Mode.READ, False, 120, Risk.LOW),
    "hubitat.device.command": (Mode.WRITE, True, None, Risk.HIGH),
    "roborock.device.command": (Mode.WRITE, True, None, Risk.HIGH),
}


def test_the_registry_is_domain_mds_table():
    assert {
        spec.id: (spec.mode, spec.requires_approval, spec.max_calls_per_hour, spec.risk)
        for spec in REGISTRY
    } == DOMAIN_TABLE


def test_quorum_is_two_for_high_risk_and_one_otherwise():
    assert {spec.id: spec.approvals_required for spec in REGISTRY if spec.requires_approval} == {
        "firestore.ops_note.append": 1,
        "firestore.ops_note.rollback": 1,
        "firestore.batch.close": 2,
        "finance.reconciliation.adjust": 1,
        "hubitat.device.command": 2,
        "roborock.device.command": 2,
    }


def test_every_capability_declares_owner_rollback_escalation_and_docs():
    for spec in REGISTRY:
        assert spec.owner and spec.rollback_plan and spec.escalation_path and spec.docs, spec.id
        assert spec.input_schema()["type"] == "object"


def test_an_unknown_capability_is_an_error():
    with pytest.raises(CapabilityUnknown):
        capability_spec("stripe.refund.create")


@pytest.mark.django_db
def test_migrate_mirrors_the_registry_into_the_database():
    rows = {row.id: row for row in Capability.objects.all()}
    assert set(rows) == set(CAPABILITIES)
    assert rows["firestore.batch.close"].approvals_required == 2
    assert rows["firestore.batch.close"].risk == Risk.HIGH
    assert "batch_id" in rows["firestore.batch.close"].input_schema["properties"]


@pytest.mark.django_db
def test_a_capability_removed_from_code_is_retired_not_deleted():
    shorter = tuple(spec for spec in REGISTRY if spec.id != "roborock.device.command")
    counts = capability_sync(registry=shorter)
    assert counts["retired"] == 1
    assert Capability.objects.get(id="roborock.device.command").retired_at is not None
    renamed = dataclasses.replace(REGISTRY[0], description="Append an ops note (renamed)")
    capability_sync(registry=(renamed, *REGISTRY[1:]))
    assert Capability.objects.get(id="roborock.device.command").retired_at is None
    assert Capability.objects.get(id=REGISTRY[0].id).description == "Append an ops note (renamed)"


def test_every_capability_docs_link_points_at_a_section_of_docs_capabilities_md():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "capabilities.md").read_text()
    for spec in REGISTRY:
        page, _, anchor = spec.docs.partition("#")
        assert page == "docs/capabilities.md"
        assert f"\n## {anchor}\n" in text, spec.id
