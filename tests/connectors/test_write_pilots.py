"""The write pilots at the connector level, against the real peers: the Firestore pilot's
transactions, and dry runs and read-backs of Hubitat and Roborock commands."""

from __future__ import annotations

import threading

import pytest
from google.cloud import firestore

from connectors.firestore.writes import (
    ACTIONS,
    NOTES,
    PREVIEW_SERVER_TIME,
    FirestorePilotConnector,
    FirestorePilotSettings,
)
from connectors.hubitat.connector import HubitatConnector
from connectors.hubitat.schemas import HubitatSettings
from connectors.roborock.connector import RoborockConnector
from connectors.roborock.schemas import RoborockSettings
from connectors.sdk.base import MemoryRecorder
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.schemas import WriteIntent
from tests.peers.roborock_peer import TOKEN as VACUUM_TOKEN

KEY = "6f1c1d1e-0000-4000-8000-000000000001"


def pilot(*, read_only: bool = False, recorder=None) -> FirestorePilotConnector:
    return FirestorePilotConnector(
        instance="pilot-test",
        settings=FirestorePilotSettings(project="demo-test", emulator=True),
        secrets={},
        read_only=read_only,
        recorder=recorder,
    )


def append_intent(key: str = KEY, proposal_id: int = 42) -> WriteIntent:
    return WriteIntent(
        operation="ops_note.append",
        target="batch-7",
        params={
            "proposal_id": proposal_id,
            "studio": "north-kiln",
            "batch_id": "batch-7",
            "note": "Bisque moved to kiln 2",
            "capability": "firestore.ops_note.append",
            "input_hash": "a" * 64,
        },
        idempotency_key=key,
    )


def rollback_intent(note_id: str, key: str = "rollback-key-0001") -> WriteIntent:
    return WriteIntent(
        operation="ops_note.rollback",
        target=note_id,
        params={
            "proposal_id": 43,
            "studio": "north-kiln",
            "note_id": note_id,
            "reason": "Wrong batch",
            "capability": "firestore.ops_note.rollback",
            "input_hash": "b" * 64,
        },
        idempotency_key=key,
    )


@pytest.fixture
def db(firestore_peer):
    client = firestore.Client(project="demo-test")
    yield client
    client.close()


def test_an_ops_note_is_written_in_one_transaction_to_both_collections(db, firestore_peer):
    connector = pilot()
    outcome = connector.execute(append_intent())
    doc_id = f"42__{KEY}"
    assert outcome.accepted and not outcome.replayed
    assert outcome.result == {
        "documents": [f"{NOTES}/{doc_id}", f"{ACTIONS}/{doc_id}"],
        "note_id": doc_id,
    }
    note = db.collection(NOTES).document(doc_id).get().to_dict()
    action = db.collection(ACTIONS).document(doc_id).get().to_dict()
    assert note["note"] == "Bisque moved to kiln 2" and note["status"] == "active"
    assert note["idempotencyKey"] == KEY and note["proposalId"] == 42
    assert action["documentId"] == doc_id and action["operation"] == "ops_note.append"
    assert firestore_peer.calls["BeginTransaction"] == 1
    assert firestore_peer.write_calls == 1  # one Commit carried both documents


def test_a_repeat_with_the_same_key_is_replayed_and_writes_nothing(db, firestore_peer):
    connector = pilot()
    connector.execute(append_intent())
    firestore_peer.reset_counters()
    again = connector.execute(append_intent())
    assert again.replayed
    assert firestore_peer.document_count() == 2
    # The repeat read the note inside its transaction and committed it empty.
    assert firestore_peer.calls["BatchGetDocuments"] == 1
    assert firestore_peer.calls["Commit"] == 1


def test_twenty_racing_attempts_with_one_key_write_one_note(db, firestore_peer):
    outcomes, errors = [], []
    start = threading.Barrier(20)

    def attempt() -> None:
        connector = pilot()
        try:
            start.wait()
            outcomes.append(connector.execute(append_intent()))
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connector.close()

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sum(not outcome.replayed for outcome in outcomes) == 1
    assert firestore_peer.document_count() == 2


def test_the_dry_run_shows_the_exact_documents_and_reads_the_batch(db, firestore_peer):
    db.collection("batches").document("batch-7").set({"state": "BISQUE"})
    firestore_peer.reset_counters()
    preview = pilot(read_only=True).preview(append_intent())
    assert preview.current == {"batch_exists": True, "note": "absent", "action": "absent"}
    assert preview.expected == {"batch_exists": True, "note": "created", "action": "created"}
    assert [(d["collection"], d["id"], d["write"]) for d in preview.documents] == [
        (NOTES, f"42__{KEY}", "create"),
        (ACTIONS, f"42__{KEY}", "create"),
    ]
    assert preview.documents[0]["fields"]["createdAt"] == PREVIEW_SERVER_TIME
    assert any("read-only" in note for note in preview.notes)
    assert firestore_peer.write_calls == 0


def test_a_read_only_pilot_refuses_before_any_request(firestore_peer):
    recorder = MemoryRecorder()
    with pytest.raises(ConnectorError) as caught:
        pilot(read_only=True, recorder=recorder).execute(append_intent())
    assert caught.value.code == ErrorCode.READ_ONLY_VIOLATION
    assert sum(firestore_peer.calls.values()) == 0


def test_rollback_marks_the_note_and_records_its_own_action(db, firestore_peer):
    connector = pilot()
    note_id = connector.execute(append_intent()).result["note_id"]
    before = connector.verify(rollback_intent(note_id))
    outcome = connector.execute(rollback_intent(note_id))
    again = connector.execute(rollback_intent(note_id))
    after = connector.verify(rollback_intent(note_id))
    note = db.collection(NOTES).document(note_id).get().to_dict()
    assert not outcome.replayed and again.replayed
    assert note["status"] == "rolled_back" and note["rolledBackBy"] == "43__rollback-key-0001"
    assert note["note"] == "Bisque moved to kiln 2"  # kept as history
    assert before.applied is False and after.applied is True
    assert db.collection(ACTIONS).document("43__rollback-key-0001").get().exists


def test_rolling_back_a_missing_note_fails_and_writes_nothing(db, firestore_peer):
    with pytest.raises(ConnectorError, match="no note"):
        pilot().execute(rollback_intent("42__missing"))
    assert firestore_peer.document_count() == 0
    assert firestore_peer.calls["Rollback"] == 1


def test_verify_reads_back_whether_the_note_was_applied(db, firestore_peer):
    connector = pilot()
    assert connector.verify(append_intent()).applied is False
    connector.execute(append_intent())
    check = connector.verify(append_intent())
    assert check.applied is True and check.state["note"]["batchId"] == "batch-7"


def test_a_pilot_for_the_real_firestore_refuses_an_emulator_variable(firestore_peer):
    connector = FirestorePilotConnector(
        instance="pilot-real",
        settings=FirestorePilotSettings(project="studio-prod"),
        secrets={"credentials": "{}"},
        read_only=False,
    )
    with pytest.raises(ConnectorError) as caught:
        connector.execute(append_intent())
    assert caught.value.code == ErrorCode.AUTH and "FIRESTORE_EMULATOR_HOST" in caught.value.message
    assert sum(firestore_peer.calls.values()) == 0


# Hubitat -----------------------------------------------------------------------------------


def hub(peer, *, allowlist=None, read_only=False) -> HubitatConnector:
    settings = HubitatSettings.model_validate(
        {
            "host": peer.url,
            "app_id": peer.app_id,
            "retry_attempts": 1,
            "command_allowlist": allowlist or {},
        }
    )
    return HubitatConnector(
        instance="hub-test", settings=settings, secrets={"token": peer.token}, read_only=read_only
    )


def switch(device: str, command: str) -> WriteIntent:
    return WriteIntent(
        operation="device.command",
        target=device,
        params={"command": command},
        idempotency_key="hub-key-00000001",
    )


def test_a_hubitat_dry_run_shows_current_and_expected_state(hubitat_peer):
    preview = hub(hubitat_peer, allowlist={"103": ["on"]}).preview(switch("103", "on"))
    assert preview.current["switch"] == "off"
    assert preview.expected["switch"] == "on"
    assert preview.notes == []
    assert hubitat_peer.stats.writes == 0


def test_a_hubitat_dry_run_warns_about_a_device_off_the_allowlist(hubitat_peer):
    preview = hub(hubitat_peer).preview(switch("100", "off"))
    assert any("allowlist" in note for note in preview.notes)


def test_a_command_off_the_allowlist_is_refused_before_it_is_sent(hubitat_peer):
    with pytest.raises(ConnectorError, match="allowlist"):
        hub(hubitat_peer, allowlist={"103": ["on"]}).execute(switch("103", "off"))
    assert hubitat_peer.stats.writes == 0


def test_hubitat_verify_reads_the_switch_back(hubitat_peer):
    connector = hub(hubitat_peer, allowlist={"103": ["on"]})
    assert connector.verify(switch("103", "on")).applied is False
    connector.execute(switch("103", "on"))
    assert connector.verify(switch("103", "on")).applied is True
    assert hubitat_peer.stats.writes == 1


def test_allowlist_entries_must_be_device_ids():
    with pytest.raises(ValueError, match="device id"):
        HubitatSettings.model_validate(
            {"host": "http://hub", "app_id": 1, "command_allowlist": {"kitchen": ["on"]}}
        )


# Roborock ----------------------------------------------------------------------------------


def vacuum(peer) -> RoborockConnector:
    settings = RoborockSettings.model_validate(peer.settings(timeout=1.0, retry_attempts=1))
    return RoborockConnector(
        instance="vac-test", settings=settings, secrets={"token": VACUUM_TOKEN}, read_only=False
    )


def vacuum_command(operation: str) -> WriteIntent:
    return WriteIntent(
        operation=operation, target="vacuum-1", params={}, idempotency_key="vac-key-00000001"
    )


def test_a_roborock_dry_run_shows_the_state_the_command_leads_to(roborock_peer):
    preview = vacuum(roborock_peer).preview(vacuum_command("vacuum.start"))
    assert preview.current["state"] == 8  # charging
    assert preview.expected["state"] == 5  # cleaning
    assert roborock_peer.writes == 0


def test_roborock_verify_reads_the_state_back_after_a_command(roborock_peer):
    connector = vacuum(roborock_peer)
    assert connector.verify(vacuum_command("vacuum.start")).applied is False
    connector.execute(vacuum_command("vacuum.start"))
    after = connector.verify(vacuum_command("vacuum.start"))
    assert after.applied is True and after.state["in_cleaning"] == 1
    assert roborock_peer.writes == 1


def test_an_operation_a_kind_does_not_have_is_refused_for_previews(roborock_peer):
    with pytest.raises(ConnectorError, match="no write operation"):
        vacuum(roborock_peer).preview(vacuum_command("vacuum.selfdestruct"))
