"""How each write capability reaches the outside: which connector, which operation, which
target — and the reverse command a rollback proposal would send.

Only the capabilities with a pilot have a write path. A capability without one (batch
close, the reads) is never executed: the gateway denies it
WRITES_DISABLED, saying so. The connector must be in this studio, enabled and in
``write_pilot`` mode; a Hubitat command must also be on the hub's command allowlist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from connectors.hubitat.schemas import HubitatSettings
from connectors.models import ConnectorConfig
from connectors.roborock.schemas import RoborockSettings
from connectors.runtime import validate_settings
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.schemas import WriteIntent
from governance.capabilities import ReconciliationAdjust
from governance.models import Execution, Proposal
from governance.targets import target_problems

FIRESTORE_PILOT = "firestore_pilot"
ROBOROCK_OPERATIONS = {
    "start": "vacuum.start",
    "pause": "vacuum.pause",
    "home": "vacuum.dock",
    "find": "vacuum.find",
}
# The command that undoes each Roborock command ("find" only plays a sound: nothing to undo).
ROBOROCK_REVERSE = {"start": "home", "pause": "start", "home": "start"}
# The idempotency key of a dry run does not exist yet; the preview shows where it goes.
PREVIEW_KEY = "<idempotency-key>"


class WritePathUnavailable(Exception):
    """This proposal cannot reach the outside now. The message says why, for staff."""


@dataclass(frozen=True)
class WritePlan:
    """What the gateway sends: an operation on a target through one configured connector."""

    connector: ConnectorConfig
    operation: str
    target: str
    params: dict[str, Any]

    def intent(self, idempotency_key: str) -> WriteIntent:
        return WriteIntent(
            operation=self.operation,
            target=self.target,
            params=self.params,
            idempotency_key=idempotency_key,
        )

    def blockers(self) -> list[str]:
        """Why this plan may not be executed now (empty: it may)."""
        config = self.connector
        problems = []
        if not config.enabled:
            problems.append(f"Connector {config.name} is disabled.")
        if config.mode != ConnectorConfig.Mode.WRITE_PILOT:
            problems.append(
                f"Connector {config.name} is read-only; an admin must switch it to write_pilot "
                "mode (docs/runbooks/write-pilots.md)."
            )
        try:
            settings = validate_settings(config.kind, config.settings)
        except ConfigurationError as error:
            return [*problems, f"Connector {config.name} is misconfigured: {error}."]
        if isinstance(settings, HubitatSettings) and not settings.allows(
            self.target, str(self.params.get("command"))
        ):
            problems.append(
                f"Device {self.target} may not receive '{self.params.get('command')}': it is not "
                f"on {config.name}'s command allowlist."
            )
        return problems

    def timeout(self) -> timedelta:
        """How long a worker may take before the reconcile job settles the execution.

        A read before, the write, a read after: each bounded by the connector's own limits,
        plus a margin for the database work around them.
        """
        try:
            settings = validate_settings(self.connector.kind, self.connector.settings)
        except ConfigurationError:
            return timedelta(seconds=120)
        seconds = 2 * settings.total_timeout + settings.timeout + 30
        return timedelta(seconds=round(seconds))


@dataclass(frozen=True)
class RollbackOffer:
    """A new proposal, pre-filled, that would undo an executed one."""

    capability_id: str
    input: dict[str, Any]
    rationale: str


def _one_pilot_connector(studio_id: int) -> ConnectorConfig:
    configs = list(
        ConnectorConfig.objects.filter(studio_id=studio_id, kind=FIRESTORE_PILOT, enabled=True)
    )
    if not configs:
        raise WritePathUnavailable(
            "No enabled firestore_pilot connector is configured for this studio."
        )
    if len(configs) > 1:
        names = ", ".join(sorted(c.name for c in configs))
        raise WritePathUnavailable(
            f"Several firestore_pilot connectors are enabled ({names}); keep exactly one."
        )
    return configs[0]


def _named_connector(studio_id: int, name: str, kind: str) -> ConnectorConfig:
    config = ConnectorConfig.objects.filter(studio_id=studio_id, name=name).first()
    if config is None:
        raise WritePathUnavailable(f"This studio has no connector named {name}.")
    if config.kind != kind:
        raise WritePathUnavailable(f"Connector {name} is a {config.kind} connector, not {kind}.")
    return config


def _firestore_params(proposal: Proposal, **fields: Any) -> dict[str, Any]:
    return {
        "proposal_id": proposal.pk,
        "studio": proposal.studio.slug,
        "capability": proposal.capability_id,
        "input_hash": proposal.input_hash,
        **fields,
    }


def _ops_note_append(proposal: Proposal) -> WritePlan:
    data = proposal.input
    return WritePlan(
        connector=_one_pilot_connector(proposal.studio_id),
        operation="ops_note.append",
        target=data["batch_id"],
        params=_firestore_params(proposal, batch_id=data["batch_id"], note=data["note"]),
    )


def _ops_note_rollback(proposal: Proposal) -> WritePlan:
    data = proposal.input
    return WritePlan(
        connector=_one_pilot_connector(proposal.studio_id),
        operation="ops_note.rollback",
        target=data["note_id"],
        params=_firestore_params(proposal, note_id=data["note_id"], reason=data["reason"]),
    )


def _reconciliation_adjust(proposal: Proposal) -> WritePlan:
    """An adjustment request in studioBrainPilotActions, if what it names still stands: the
    flag may have been resolved by the cloud (or the order gone) since it was proposed."""
    data = ReconciliationAdjust.model_validate(proposal.input)
    problems = target_problems(proposal.capability_id, data, studio_id=proposal.studio_id)
    if problems:
        raise WritePathUnavailable(" ".join(problems.values()))
    return WritePlan(
        connector=_one_pilot_connector(proposal.studio_id),
        operation="reconciliation.adjust",
        target=f"{data.order_collection}/{data.order_id}",
        params=_firestore_params(
            proposal,
            action=data.action,
            order_collection=data.order_collection,
            order_id=data.order_id,
            flag_class=data.flag,
            flag_id=data.flag_id,
            evidence=list(data.evidence),
            note=data.note,
            reverts=data.reverts,
        ),
    )


def _hubitat_command(proposal: Proposal) -> WritePlan:
    data = proposal.input
    return WritePlan(
        connector=_named_connector(proposal.studio_id, data["connector"], "hubitat"),
        operation="device.command",
        target=data["device_id"],
        params={"command": data["command"]},
    )


def _roborock_command(proposal: Proposal) -> WritePlan:
    data = proposal.input
    config = _named_connector(proposal.studio_id, data["connector"], "roborock")
    try:
        settings = validate_settings(config.kind, config.settings)
    except ConfigurationError as error:
        raise WritePathUnavailable(f"Connector {config.name} is misconfigured: {error}.") from None
    assert isinstance(settings, RoborockSettings)
    if data["device"] not in {entry.id for entry in settings.devices}:
        raise WritePathUnavailable(f"Connector {config.name} has no vacuum {data['device']}.")
    return WritePlan(
        connector=config,
        operation=ROBOROCK_OPERATIONS[data["command"]],
        target=data["device"],
        params={},
    )


PLANS: dict[str, Callable[[Proposal], WritePlan]] = {
    "firestore.ops_note.append": _ops_note_append,
    "firestore.ops_note.rollback": _ops_note_rollback,
    "finance.reconciliation.adjust": _reconciliation_adjust,
    "hubitat.device.command": _hubitat_command,
    "roborock.device.command": _roborock_command,
}


def has_write_path(capability_id: str) -> bool:
    return capability_id in PLANS


def write_plan(proposal: Proposal) -> WritePlan:
    """The plan for ``proposal``, or ``WritePathUnavailable`` saying why there is none."""
    build = PLANS.get(proposal.capability_id)
    if build is None:
        raise WritePathUnavailable(
            f"{proposal.capability_id} has no write path yet: no pilot executes it."
        )
    return build(proposal)


def execution_intent(execution: Execution) -> WriteIntent:
    """The intent an execution sends (and reads back), exactly as the gateway stored it."""
    return WriteIntent(
        operation=execution.operation,
        target=execution.target,
        params=execution.params,
        idempotency_key=str(execution.idempotency_key),
    )


def rollback_offer(proposal: Proposal, execution: Execution | None) -> RollbackOffer | None:
    """The proposal that would undo an executed one, or None when there is nothing to undo."""
    if execution is None or execution.status != "succeeded":
        return None
    data = proposal.input
    why = f"Rollback of proposal #{proposal.pk} ({proposal.summary})"
    if proposal.capability_id == "hubitat.device.command":
        reverse = "off" if data["command"] == "on" else "on"
        return RollbackOffer(
            "hubitat.device.command",
            {"connector": data["connector"], "device_id": data["device_id"], "command": reverse},
            why,
        )
    if proposal.capability_id == "roborock.device.command" and data["command"] in ROBOROCK_REVERSE:
        return RollbackOffer(
            "roborock.device.command",
            {
                "connector": data["connector"],
                "device": data["device"],
                "command": ROBOROCK_REVERSE[data["command"]],
            },
            why,
        )
    action_id = execution.result.get("action_id")
    if (
        proposal.capability_id == "finance.reconciliation.adjust"
        and data.get("action") == "resolve"
        and action_id
    ):
        return RollbackOffer(
            "finance.reconciliation.adjust",
            {
                **{key: data[key] for key in ("order_collection", "order_id", "flag", "flag_id")},
                "evidence": data["evidence"],
                "note": f"Withdraw the adjustment made by proposal #{proposal.pk}",
                "action": "restore",
                "reverts": action_id,
            },
            why,
        )
    note_id = execution.result.get("note_id")
    if proposal.capability_id == "firestore.ops_note.append" and note_id:
        return RollbackOffer(
            "firestore.ops_note.rollback",
            {"note_id": note_id, "reason": f"Undo the note added by proposal #{proposal.pk}"},
            why,
        )
    return None


__all__ = [
    "PREVIEW_KEY",
    "RollbackOffer",
    "WritePathUnavailable",
    "WritePlan",
    "execution_intent",
    "has_write_path",
    "rollback_offer",
    "write_plan",
]
