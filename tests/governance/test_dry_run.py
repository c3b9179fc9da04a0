"""Dry runs stored at submission: what the connector says the write would do, read-only."""

from __future__ import annotations

import pytest

from connectors.models import ConnectorConfig
from tests.governance.pilots import (
    NOTE,
    SWITCH,
    VACUUM_START,
    firestore_pilot,
    hub_pilot,
    submitted,
    vacuum_pilot,
)

pytestmark = pytest.mark.django_db


def test_a_hubitat_command_dry_run_shows_the_switch_now_and_after(staff, hubitat_peer, monkeypatch):
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    dry = proposal.dry_run
    assert dry["ok"] and (dry["connector"], dry["operation"], dry["target"]) == (
        "hub1",
        "device.command",
        "103",
    )
    assert dry["current"]["switch"] == "off" and dry["expected"]["switch"] == "on"
    assert dry["blockers"] == [] and dry["notes"] == []
    assert hubitat_peer.stats.writes == 0


def test_a_dry_run_names_what_would_block_the_execution(staff, hubitat_peer, monkeypatch):
    hub_pilot(
        staff.studio,
        hubitat_peer,
        monkeypatch,
        allowlist={"103": ["off"]},
        mode=ConnectorConfig.Mode.READ_ONLY,
    )
    dry = submitted(staff, "hubitat.device.command", SWITCH).dry_run
    assert any("read-only" in blocker for blocker in dry["blockers"])
    assert any("allowlist" in blocker for blocker in dry["blockers"])


def test_an_ops_note_dry_run_shows_the_exact_documents(staff, firestore_peer):
    firestore_pilot(staff.studio)
    proposal = submitted(staff, "firestore.ops_note.append", NOTE)
    documents = proposal.dry_run["documents"]
    assert [(d["collection"], d["id"]) for d in documents] == [
        ("studioBrainPilotOpsNotes", f"{proposal.pk}__<idempotency-key>"),
        ("studioBrainPilotActions", f"{proposal.pk}__<idempotency-key>"),
    ]
    assert documents[0]["fields"]["note"] == NOTE["note"]
    assert proposal.dry_run["current"] == {
        "batch_exists": False,
        "note": "absent",
        "action": "absent",
    }
    assert firestore_peer.write_calls == 0


def test_a_vacuum_dry_run_shows_the_state_the_command_leads_to(staff, roborock_peer, monkeypatch):
    vacuum_pilot(staff.studio, roborock_peer, monkeypatch)
    dry = submitted(staff, "roborock.device.command", VACUUM_START).dry_run
    assert (dry["current"]["state"], dry["expected"]["state"]) == (8, 5)
    assert roborock_peer.writes == 0


def test_an_unreachable_device_gives_a_failed_dry_run_not_a_failed_submission(
    staff, hubitat_peer, monkeypatch
):
    hub_pilot(staff.studio, hubitat_peer, monkeypatch)
    hubitat_peer.inject(status=503)
    proposal = submitted(staff, "hubitat.device.command", SWITCH)
    assert proposal.status == "pending_approval"
    assert proposal.dry_run["ok"] is False
    assert proposal.dry_run["problem"].startswith("UNAVAILABLE")
    assert hubitat_peer.stats.requests == 1  # one attempt: a dry run never retries


def test_a_capability_without_a_pilot_has_no_dry_run(staff):
    proposal = submitted(
        staff, "firestore.batch.close", {"batch_id": "b-1", "reason": "Everything is collected"}
    )
    assert proposal.dry_run == {}
