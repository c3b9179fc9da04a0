"""What a proposal names must exist: checks of a capability's targets against the mirror.

Schema validation (``validate_input``) says an input is well formed; these checks say it
names something the studio has — an order or a batch the mirror holds, a reconciliation
flag still open, a connector configured here and one of its devices, a note an executed
append wrote. A proposal that fails one is refused TARGET_NOT_FOUND with a message per field, so
staff see which value is wrong before anyone is asked to approve it. The write path runs
the same check again at execution (``governance.write_paths``): the cloud may have moved
on in between, and then nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from brain.models import CloudRecord, ReconciliationFlag
from governance.capabilities import (
    BatchClose,
    CapabilityInput,
    DeviceRead,
    HubitatCommand,
    OpsNoteAppend,
    OpsNoteRollback,
    ReconciliationAdjust,
    RoborockCommand,
)
from governance.enums import ExecutionStatus
from governance.models import Execution
from governance.selectors.targets import (
    CONNECTOR_KINDS,
    batch_exists,
    connector_devices,
    connector_get,
    note_was_written,
)

ADJUST = "finance.reconciliation.adjust"

# field name -> what is wrong with it, for staff
TargetProblems = dict[str, str]


def _reconciliation_adjust(studio_id: int, data: CapabilityInput) -> TargetProblems:
    assert isinstance(data, ReconciliationAdjust)
    problems: TargetProblems = {}
    in_mirror = CloudRecord.objects.filter(
        studio_id=studio_id,
        source=CloudRecord.Source.FIRESTORE,
        collection=data.order_collection,
        doc_id=data.order_id,
        deleted_at__isnull=True,
    ).exists()
    if not in_mirror:
        problems["order_id"] = (
            f"The mirror holds no {data.order_collection} order {data.order_id!r}; "
            "check the id, or capture the cloud again."
        )
    if data.action == "restore":
        adjusted = Execution.objects.filter(
            studio_id=studio_id,
            proposal__capability_id=ADJUST,
            status=ExecutionStatus.SUCCEEDED,
            result__action_id=data.reverts,
        ).exists()
        if not adjusted:
            problems["reverts"] = (
                f"No executed adjustment of this studio wrote {data.reverts!r}; "
                "only an executed adjustment can be withdrawn."
            )
        return problems
    flag = ReconciliationFlag.objects.filter(studio_id=studio_id, pk=data.flag_id).first()
    if flag is None:
        problems["flag_id"] = f"This studio has no reconciliation flag #{data.flag_id}."
        return problems
    if flag.resolved_at is not None:
        problems["flag_id"] = (
            f"Flag #{flag.pk} was resolved by the cloud on {flag.resolved_at:%Y-%m-%d %H:%M} UTC; "
            "there is nothing left to adjust."
        )
    if (flag.order_collection, flag.order_id, flag.flag_class) != (
        data.order_collection,
        data.order_id,
        data.flag,
    ):
        problems["flag"] = (
            f"Flag #{flag.pk} is {flag.flag_class} on {flag.order_collection} {flag.order_id}, "
            "not what this proposal names."
        )
    unknown = sorted(set(data.evidence) - set(flag.evidence))
    if unknown:
        problems["evidence"] = (
            f"Not evidence of flag #{flag.pk}: {', '.join(unknown)} "
            f"(its evidence is {', '.join(flag.evidence) or 'none'})."
        )
    return problems


def _batch(studio_id: int, data: CapabilityInput) -> TargetProblems:
    assert isinstance(data, OpsNoteAppend | BatchClose)
    if batch_exists(studio_id, data.batch_id):
        return {}
    return {
        "batch_id": (
            f"The mirror holds no batch {data.batch_id!r}; check the id, or capture the cloud again."
        )
    }


def _note_rollback(studio_id: int, data: CapabilityInput) -> TargetProblems:
    assert isinstance(data, OpsNoteRollback)
    if note_was_written(studio_id, data.note_id):
        return {}
    return {
        "note_id": (
            f"No executed ops note of this studio wrote {data.note_id!r}; only a note an "
            "executed append wrote can be rolled back."
        )
    }


def _connector(capability_id: str) -> Callable[[int, CapabilityInput], TargetProblems]:
    """The named connector must be one of this studio's, of the capability's kind; a command's
    device must be one the connector has (a hub's allowlist, the configured vacuums)."""
    kind = CONNECTOR_KINDS[capability_id]

    def check(studio_id: int, data: CapabilityInput) -> TargetProblems:
        assert isinstance(data, DeviceRead | HubitatCommand | RoborockCommand)
        config = connector_get(studio_id, data.connector)
        if config is None:
            return {"connector": f"This studio has no connector named {data.connector!r}."}
        if config.kind != kind:
            return {
                "connector": f"Connector {config.name} is a {config.kind} connector, not {kind}."
            }
        device = getattr(data, "device_id", None) or getattr(data, "device", None)
        if device is None:
            return {}
        devices = {choice.value for choice in connector_devices(config)}
        if device in devices:
            return {}
        field = "device_id" if isinstance(data, HubitatCommand) else "device"
        known = ", ".join(sorted(devices)) or "none"
        where = "command allowlist" if kind == "hubitat" else "configured vacuums"
        return {field: f"Device {device!r} is not on {config.name}'s {where} (it has: {known})."}

    return check


CHECKS: dict[str, Callable[[int, CapabilityInput], TargetProblems]] = {
    ADJUST: _reconciliation_adjust,
    "firestore.ops_note.append": _batch,
    "firestore.batch.close": _batch,
    "firestore.ops_note.rollback": _note_rollback,
    **{capability_id: _connector(capability_id) for capability_id in CONNECTOR_KINDS},
}


def target_problems(capability_id: str, data: CapabilityInput, *, studio_id: int) -> TargetProblems:
    """What ``data`` names that this studio does not have (empty: everything exists)."""
    check = CHECKS.get(capability_id)
    return check(studio_id, data) if check else {}


__all__ = ["TargetProblems", "target_problems"]
