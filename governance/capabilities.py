"""The capability registry: every action the brain may ever take, declared in code.

The code is the source of truth. ``capability_sync`` mirrors it into the ``Capability``
table after every migrate so rows (proposals, executions, quotas) can reference a
capability by foreign key; a capability removed from code is marked retired there,
never deleted, so old proposals keep pointing at what they were made for.

Each capability names the pydantic model its input must satisfy. The model also writes
the preview staff read before approving: a one-line summary and the expected effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from governance.enums import Mode, Risk

DOCS_BASE = "docs/capabilities.md"

DocumentId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[^/\s]+$"),
]
# A pilot document id, ``{proposalId}__{idempotencyKey}`` (connectors/firestore/writes.py).
PilotActionId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=200, pattern=r"^[0-9]+__[0-9a-fA-F-]{8,128}$"
    ),
]
ConnectorName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"
    ),
]


class CapabilityInput(BaseModel):
    """Base of every capability input: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    def summary(self) -> str:
        raise NotImplementedError

    def expected_effects(self) -> list[str]:
        raise NotImplementedError


class OpsNoteAppend(CapabilityInput):
    batch_id: DocumentId
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]

    def summary(self) -> str:
        return f"Add an ops note to batch {self.batch_id}"

    def expected_effects(self) -> list[str]:
        return [
            f"One document added to studioBrainPilotOpsNotes for batch {self.batch_id} "
            f"with the note ({len(self.note)} characters)",
            "One document added to studioBrainPilotActions recording this proposal",
            "The batch itself is not changed",
        ]


class OpsNoteRollback(CapabilityInput):
    """Marks a pilot ops note rolled back. ``note_id`` is the note's document id,
    ``{proposalId}__{idempotencyKey}``, which the executed append proposal shows."""

    note_id: PilotActionId
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]

    def summary(self) -> str:
        return f"Roll back ops note {self.note_id}"

    def expected_effects(self) -> list[str]:
        return [
            f"Note {self.note_id} in studioBrainPilotOpsNotes is marked rolled back "
            "(its text stays, as history)",
            "One document added to studioBrainPilotActions recording this rollback",
        ]


class BatchClose(CapabilityInput):
    batch_id: DocumentId
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=500)]

    def summary(self) -> str:
        return f"Close batch {self.batch_id}"

    def expected_effects(self) -> list[str]:
        return [
            f"Batch {self.batch_id} gets a CLOSED_ state and stops counting as active",
            "The reason is recorded on the batch's studioBrainPilotActions entry",
        ]


ReconciliationFlag = Literal[
    "paid_in_stripe_order_unpaid",
    "order_paid_without_payment",
    "amount_mismatch",
    "currency_mismatch",
    "refund_not_reflected",
    "dispute_not_reflected",
    "duplicate_payment",
    "checkout_stuck_pending",
]


OrderCollection = Literal["materialsOrders", "eventCharges"]
StripeId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=128, pattern=r"^[a-z]+_\w+$"),
]


class ReconciliationAdjust(CapabilityInput):
    """Asks the cloud app to settle one reconciliation flag on an order.

    ``resolve`` records the adjustment (the order, the flag class, the Stripe evidence and
    the note) in ``studioBrainPilotActions``, where the studio's cloud app picks it up; the
    order itself and Stripe are never written (the cloud stays authoritative, and the flag
    closes when a later run no longer sees the discrepancy). ``restore`` withdraws an earlier
    adjustment, named by its action document id in ``reverts``. ``flag_id`` is the local
    flag the proposal was made from; the order must be in the mirror and, for ``resolve``,
    the flag open with the same order and class (governance/targets.py).
    """

    order_collection: OrderCollection = "materialsOrders"
    order_id: DocumentId
    flag: ReconciliationFlag
    flag_id: Annotated[int, Field(ge=1)]
    evidence: Annotated[list[StripeId], Field(max_length=20)] = []
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]
    action: Literal["resolve", "restore"] = "resolve"
    reverts: PilotActionId | None = None

    @model_validator(mode="after")
    def reverts_only_when_restoring(self) -> ReconciliationAdjust:
        if self.action == "restore" and not self.reverts:
            raise ValueError("a restore names the adjustment it withdraws in 'reverts'")
        if self.action == "resolve" and self.reverts:
            raise ValueError("'reverts' is only for action 'restore'")
        return self

    def summary(self) -> str:
        what = self.flag.replace("_", " ")
        if self.action == "restore":
            return f"Withdraw the adjustment of order {self.order_id} for {what}"
        return f"Adjust order {self.order_id} for {what}"

    def expected_effects(self) -> list[str]:
        if self.action == "restore":
            return [
                f"Adjustment {self.reverts} in studioBrainPilotActions is marked withdrawn "
                f"(it stays, as history), so flag '{self.flag}' on {self.order_id} stands again",
                "One document added to studioBrainPilotActions recording this withdrawal",
                "The order and Stripe are never changed",
            ]
        evidence = ", ".join(self.evidence) or "no Stripe object (absence of a payment)"
        return [
            f"One document added to studioBrainPilotActions asking the cloud app to settle "
            f"'{self.flag}' on {self.order_collection} {self.order_id}, with the note "
            f"and the evidence ({evidence})",
            "The order and Stripe are never changed; the flag closes when a later "
            "reconciliation run no longer sees the discrepancy",
        ]


class DeviceRead(CapabilityInput):
    connector: ConnectorName

    def summary(self) -> str:
        return f"Read devices through connector {self.connector}"

    def expected_effects(self) -> list[str]:
        return ["Nothing changes: a read"]


class HubitatCommand(CapabilityInput):
    connector: ConnectorName
    device_id: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{1,10}$")]
    command: Literal["on", "off"]

    def summary(self) -> str:
        return f"Switch Hubitat device {self.device_id} {self.command}"

    def expected_effects(self) -> list[str]:
        reverse = "off" if self.command == "on" else "on"
        return [
            f"Device {self.device_id} on {self.connector} receives '{self.command}'",
            f"Rollback: a new proposal sending '{reverse}'",
        ]


class RoborockCommand(CapabilityInput):
    connector: ConnectorName
    device: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    command: Literal["start", "pause", "home", "find"]

    def summary(self) -> str:
        return f"Send '{self.command}' to Roborock {self.device}"

    def expected_effects(self) -> list[str]:
        effects = {
            "start": "the vacuum starts cleaning",
            "pause": "the vacuum stops where it is",
            "home": "the vacuum returns to its dock",
            "find": "the vacuum plays its locator sound",
        }
        return [f"On {self.connector}, {effects[self.command]}"]


@dataclass(frozen=True)
class CapabilitySpec:
    """One capability as declared in code. ``approvals_required`` defaults by risk."""

    id: str
    target: str
    description: str
    mode: Mode
    risk: Risk
    requires_approval: bool
    input_model: type[CapabilityInput]
    owner: str
    rollback_plan: str
    escalation_path: str
    max_calls_per_hour: int | None = None
    approvals_required: int = field(default=0)
    docs: str = ""

    def __post_init__(self) -> None:
        if self.approvals_required == 0 and self.requires_approval:
            object.__setattr__(self, "approvals_required", 2 if self.risk >= Risk.HIGH else 1)
        if not self.docs:
            object.__setattr__(self, "docs", f"{DOCS_BASE}#{self.id.replace('.', '-')}")

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()


REGISTRY: tuple[CapabilitySpec, ...] = (
    CapabilitySpec(
        id="firestore.ops_note.append",
        target="firestore:studioBrainPilotOpsNotes",
        description="Append an ops note to a batch (pilot write).",
        mode=Mode.WRITE,
        risk=Risk.MEDIUM,
        requires_approval=True,
        max_calls_per_hour=8,
        input_model=OpsNoteAppend,
        owner="studio-ops",
        rollback_plan=(
            "Submit a rollback proposal that marks the note rolled back; the note stays as history."
        ),
        escalation_path="Studio manager, then the brain's maintainer on call.",
    ),
    CapabilitySpec(
        id="firestore.ops_note.rollback",
        target="firestore:studioBrainPilotOpsNotes",
        description="Mark a pilot ops note rolled back (undoes an added ops note).",
        mode=Mode.WRITE,
        risk=Risk.MEDIUM,
        requires_approval=True,
        max_calls_per_hour=8,
        input_model=OpsNoteRollback,
        owner="studio-ops",
        rollback_plan=(
            "Append the note again with a new proposal; the rolled-back note stays as history."
        ),
        escalation_path="Studio manager, then the brain's maintainer on call.",
    ),
    CapabilitySpec(
        id="firestore.batch.close",
        target="firestore:batches",
        description="Close a batch that is finished but still counted active.",
        mode=Mode.WRITE,
        risk=Risk.HIGH,
        requires_approval=True,
        max_calls_per_hour=5,
        input_model=BatchClose,
        owner="studio-ops",
        rollback_plan=(
            "Reopen the batch in the studio's cloud app; the previous state is in the audit record."
        ),
        escalation_path="Studio manager, then the brain's maintainer on call.",
    ),
    CapabilitySpec(
        id="finance.reconciliation.adjust",
        target="finance:reconciliation",
        description="Resolve a reconciliation flag on an order with a note.",
        mode=Mode.WRITE,
        risk=Risk.MEDIUM,
        requires_approval=True,
        max_calls_per_hour=5,
        input_model=ReconciliationAdjust,
        owner="studio-finance",
        rollback_plan="Submit a new adjustment restoring the flag; Stripe is never written.",
        escalation_path="Studio finance lead, then the studio owner.",
    ),
    CapabilitySpec(
        id="hubitat.devices.read",
        target="hubitat:maker-api",
        description="Read Hubitat devices and their states.",
        mode=Mode.READ,
        risk=Risk.LOW,
        requires_approval=False,
        max_calls_per_hour=120,
        input_model=DeviceRead,
        owner="studio-facilities",
        rollback_plan="None needed: a read changes nothing.",
        escalation_path="Studio facilities lead.",
    ),
    CapabilitySpec(
        id="roborock.devices.read",
        target="roborock:miio",
        description="Read Roborock vacuum status, consumables and history.",
        mode=Mode.READ,
        risk=Risk.LOW,
        requires_approval=False,
        max_calls_per_hour=120,
        input_model=DeviceRead,
        owner="studio-facilities",
        rollback_plan="None needed: a read changes nothing.",
        escalation_path="Studio facilities lead.",
    ),
    CapabilitySpec(
        id="hubitat.device.command",
        target="hubitat:maker-api",
        description="Switch an allowlisted Hubitat device on or off (pilot).",
        mode=Mode.WRITE,
        risk=Risk.HIGH,
        requires_approval=True,
        input_model=HubitatCommand,
        owner="studio-facilities",
        rollback_plan="The reverse command is offered as a rollback proposal.",
        escalation_path="Studio facilities lead, then switch the device by hand.",
    ),
    CapabilitySpec(
        id="roborock.device.command",
        target="roborock:miio",
        description="Start, pause, dock or locate a Roborock vacuum (pilot).",
        mode=Mode.WRITE,
        risk=Risk.HIGH,
        requires_approval=True,
        input_model=RoborockCommand,
        owner="studio-facilities",
        rollback_plan="Send 'home' (or 'pause') as a rollback proposal.",
        escalation_path="Studio facilities lead, then the vacuum's own app.",
    ),
)

CAPABILITIES: dict[str, CapabilitySpec] = {spec.id: spec for spec in REGISTRY}


class CapabilityUnknown(LookupError):
    def __init__(self, capability_id: str) -> None:
        self.capability_id = capability_id
        super().__init__(f"no capability {capability_id!r} in the registry")


def capability_spec(capability_id: str) -> CapabilitySpec:
    """The declared capability, or ``CapabilityUnknown``."""
    try:
        return CAPABILITIES[capability_id]
    except KeyError:
        raise CapabilityUnknown(capability_id) from None
