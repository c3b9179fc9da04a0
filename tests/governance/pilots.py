"""Building blocks for execution tests: write pilots configured against the real peers, and
proposals taken through submission and approval by the staff fixture's people."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from connectors.models import ConnectorConfig
from connectors.services import connector_config_create
from governance.actors import Actor
from governance.models import Execution, Proposal
from governance.services.approvals import approval_grant
from governance.services.proposals import proposal_submit
from tests.peers.roborock_peer import TOKEN as VACUUM_TOKEN

HUB_TOKEN_ENV = "PILOT_TEST_HUB_TOKEN"
VACUUM_TOKEN_ENV = "PILOT_TEST_VACUUM_TOKEN"
SWITCH = {"connector": "hub1", "device_id": "103", "command": "on"}  # device 103 starts off
NOTE = {"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"}
VACUUM_START = {"connector": "vac1", "device": "vacuum-1", "command": "start"}
WAIT_SECONDS = 20.0


def writes(settings: Any, enabled: bool = True) -> None:
    settings.BRAIN = dataclasses.replace(settings.BRAIN, enable_write_execution=enabled)


def hub_pilot(
    studio: Any,
    peer: Any,
    monkeypatch: Any,
    *,
    allowlist: dict[str, list[str]] | None = None,
    mode: str = ConnectorConfig.Mode.WRITE_PILOT,
    name: str = "hub1",
) -> ConnectorConfig:
    monkeypatch.setenv(HUB_TOKEN_ENV, peer.token)
    return connector_config_create(
        studio_id=studio.pk,
        kind="hubitat",
        name=name,
        settings={
            "host": peer.url,
            "app_id": peer.app_id,
            "timeout": 2,
            "retry_attempts": 1,
            "total_timeout": 5,
            "events_per_device": 0,
            "command_allowlist": {"103": ["on", "off"]} if allowlist is None else allowlist,
        },
        secret_env={"token": HUB_TOKEN_ENV},
        mode=mode,
    )


def firestore_pilot(
    studio: Any, *, mode: str = ConnectorConfig.Mode.WRITE_PILOT, name: str = "cloud-pilot"
) -> ConnectorConfig:
    return connector_config_create(
        studio_id=studio.pk,
        kind="firestore_pilot",
        name=name,
        settings={"project": "demo-test", "emulator": True, "timeout": 2, "total_timeout": 5},
        secret_env={},
        mode=mode,
    )


def vacuum_pilot(studio: Any, peer: Any, monkeypatch: Any) -> ConnectorConfig:
    monkeypatch.setenv(VACUUM_TOKEN_ENV, VACUUM_TOKEN)
    return connector_config_create(
        studio_id=studio.pk,
        kind="roborock",
        name="vac1",
        settings=peer.settings(timeout=1.0, retry_attempts=1, total_timeout=5),
        secret_env={"token": VACUUM_TOKEN_ENV},
        mode=ConnectorConfig.Mode.WRITE_PILOT,
    )


def submitted(staff: Any, capability_id: str, input: dict[str, Any], **extra: Any) -> Proposal:
    return proposal_submit(
        studio=staff.studio,
        capability_id=capability_id,
        input=input,
        rationale=extra.pop("rationale", "Needed for this week's firing schedule"),
        actor=Actor.staff(staff.operator),
        **extra,
    )


def approve(staff: Any, proposal: Proposal) -> Proposal:
    """Grant as many approvals as the quorum needs (the approver, then the admin)."""
    for approver in (staff.approver, staff.admin)[: proposal.approvals_required]:
        approval_grant(
            proposal_id=proposal.pk,
            actor=Actor.staff(approver),
            rationale="Checked the input and the dry run",
        )
    proposal.refresh_from_db()
    return proposal


def approved(staff: Any, capability_id: str, input: dict[str, Any], **extra: Any) -> Proposal:
    return approve(staff, submitted(staff, capability_id, input, **extra))


def wait_until_finished(execution_id: int, timeout: float = WAIT_SECONDS) -> Execution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = Execution.objects.get(pk=execution_id)
        if execution.is_finished:
            return execution
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} not finished within {timeout:g} s")
