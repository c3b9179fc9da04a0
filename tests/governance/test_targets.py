"""A proposal must name what the studio has: a batch in the mirror, a configured connector
of the right kind, one of its devices, a note an executed append wrote. Anything else is
refused TARGET_NOT_FOUND with a message on the field, audited, and nothing is stored."""

import pytest
from django.utils import timezone

from brain.models import CloudRecord
from governance.actors import Actor
from governance.enums import ExecutionStatus
from governance.errors import Denied
from governance.models import Execution, Proposal
from governance.reasons import ReasonCode
from governance.services.proposals import proposal_submit
from tests.factories import ConnectorConfigFactory, ProposalFactory
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db

NOTE_ID = "41__0a1b2c3d-0000-4000-8000-000000000000"


def refused(staff, capability_id, input):
    with pytest.raises(Denied) as caught:
        proposal_submit(
            studio=staff.studio,
            capability_id=capability_id,
            input=input,
            rationale="The kiln schedule changed this week",
            actor=Actor.staff(staff.operator),
        )
    assert caught.value.code == ReasonCode.TARGET_NOT_FOUND
    assert not Proposal.objects.filter(studio=staff.studio, capability_id=capability_id).exists()
    assert chain(staff.studio.pk)[-1][1:] == ("proposal.submit_denied", "TARGET_NOT_FOUND")
    return caught.value


def accepted(staff, capability_id, input):
    return proposal_submit(
        studio=staff.studio,
        capability_id=capability_id,
        input=input,
        rationale="The kiln schedule changed this week",
        actor=Actor.staff(staff.operator),
    )


@pytest.fixture
def hub(staff):
    return ConnectorConfigFactory(
        studio=staff.studio,
        kind="hubitat",
        name="hub1",
        settings={"host": "http://192.168.1.20", "app_id": 7, "command_allowlist": {"103": ["on"]}},
    )


@pytest.fixture
def vacuum(staff):
    return ConnectorConfigFactory(
        studio=staff.studio,
        kind="roborock",
        name="vac1",
        settings={"devices": [{"id": "vacuum-1", "label": "Studio floor", "ip": "192.168.1.40"}]},
    )


@pytest.mark.parametrize("capability_id", ["firestore.ops_note.append", "firestore.batch.close"])
def test_a_batch_the_mirror_does_not_hold_is_refused(staff, capability_id):
    text = {"note": "Bisque load moved"} if "note" in capability_id else {"reason": "All collected"}
    denial = refused(staff, capability_id, {"batch_id": "no-such-batch", **text})
    assert "no batch 'no-such-batch'" in denial.field_errors["batch_id"][0]


def test_a_deleted_or_other_studios_batch_is_refused(staff):
    CloudRecord.objects.filter(studio=staff.studio, doc_id="b1").update(
        deleted_at="2026-11-01T00:00Z"
    )
    refused(staff, "firestore.ops_note.append", {"batch_id": "b1", "note": "Bisque load moved"})
    CloudRecord.objects.filter(studio=staff.studio, doc_id="b2").delete()  # south-clay has b2
    refused(staff, "firestore.ops_note.append", {"batch_id": "b2", "note": "Bisque load moved"})
    assert accepted(staff, "firestore.ops_note.append", {"batch_id": "b7", "note": "Bisque moved"})


def test_a_connector_this_studio_does_not_have_or_of_another_kind_is_refused(staff, hub, vacuum):
    ConnectorConfigFactory(studio=staff.other_studio, kind="hubitat", name="hub9")
    missing = refused(
        staff, "hubitat.device.command", {"connector": "hub9", "device_id": "103", "command": "on"}
    )
    assert missing.field_errors["connector"] == ["This studio has no connector named 'hub9'."]
    wrong_kind = refused(staff, "roborock.devices.read", {"connector": "hub1"})
    assert "a hubitat connector, not roborock" in wrong_kind.field_errors["connector"][0]
    assert accepted(staff, "hubitat.devices.read", {"connector": "hub1"})


def test_a_device_the_connector_does_not_have_is_refused(staff, hub, vacuum):
    switch = refused(
        staff, "hubitat.device.command", {"connector": "hub1", "device_id": "100", "command": "on"}
    )
    assert "not on hub1's command allowlist (it has: 103)" in switch.field_errors["device_id"][0]
    vac = refused(
        staff,
        "roborock.device.command",
        {"connector": "vac1", "device": "attic", "command": "home"},
    )
    assert "configured vacuums (it has: vacuum-1)" in vac.field_errors["device"][0]
    assert accepted(
        staff,
        "roborock.device.command",
        {"connector": "vac1", "device": "vacuum-1", "command": "home"},
    )


def test_a_rollback_names_a_note_an_executed_append_of_this_studio_wrote(staff):
    input = {"note_id": NOTE_ID, "reason": "Undo the note"}
    denial = refused(staff, "firestore.ops_note.rollback", input)
    assert "only a note an executed append wrote" in denial.field_errors["note_id"][0]
    append = ProposalFactory(studio=staff.other_studio, status="executed")
    elsewhere = Execution.objects.create(
        proposal=append,
        studio=staff.other_studio,
        capability_id=append.capability_id,
        status=ExecutionStatus.SUCCEEDED,
        requested_by_type="staff",
        requested_by_id=str(staff.outsider.pk),
        connector=ConnectorConfigFactory(studio=staff.other_studio, kind="firestore_pilot"),
        operation="ops_note.append",
        target="b1",
        input_hash=append.input_hash,
        timeout_seconds=60,
        queued_at=timezone.now(),
        result={"note_id": NOTE_ID},
    )
    refused(staff, "firestore.ops_note.rollback", input)
    Execution.objects.filter(pk=elsewhere.pk).update(studio=staff.studio)
    append.studio = staff.studio
    append.save(update_fields=["studio"])
    assert accepted(staff, "firestore.ops_note.rollback", input)
