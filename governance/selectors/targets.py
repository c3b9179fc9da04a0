"""What a studio has that a proposal may name: batches and orders in the mirror, configured
connectors and their devices, the notes its executed appends wrote.

``governance.targets`` checks a submitted input against these; the New proposal form offers
them as choices and lookups. Every read is scoped to one studio.
"""

from __future__ import annotations

from dataclasses import dataclass

from brain.models import CloudRecord
from connectors.hubitat.schemas import HubitatSettings
from connectors.models import ConnectorConfig, DeviceReading
from connectors.roborock.schemas import RoborockSettings
from connectors.runtime import validate_settings
from connectors.sdk.errors import ConfigurationError
from governance.enums import ExecutionStatus
from governance.models import Execution

BATCHES = "batches"
ORDER_COLLECTIONS = ("materialsOrders", "eventCharges")
NOTE_APPEND = "firestore.ops_note.append"
LOOKUP_LIMIT = 20
# Which connector kind a capability's ``connector`` field names.
CONNECTOR_KINDS = {
    "hubitat.devices.read": "hubitat",
    "hubitat.device.command": "hubitat",
    "roborock.devices.read": "roborock",
    "roborock.device.command": "roborock",
}


@dataclass(frozen=True)
class Choice:
    """One thing the studio has, as a form offers it: the value sent and what staff read."""

    value: str
    label: str


def _record_label(collection: str, data: dict[str, object]) -> str:
    for key in ("title", "name", "label", "status", "state"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:80]
    return collection


def mirror_lookup(
    studio_id: int, collections: tuple[str, ...], query: str = "", *, limit: int = LOOKUP_LIMIT
) -> list[Choice]:
    """Live mirrored documents of ``collections`` whose id starts with ``query`` (one query)."""
    rows = CloudRecord.objects.filter(
        studio_id=studio_id,
        source=CloudRecord.Source.FIRESTORE,
        collection__in=collections,
        deleted_at__isnull=True,
    )
    if query.strip():
        rows = rows.filter(doc_id__istartswith=query.strip())
    found = rows.order_by("doc_id").values_list("collection", "doc_id", "data")[:limit]
    return [
        Choice(doc_id, _record_label(collection, data or {})) for collection, doc_id, data in found
    ]


def batch_exists(studio_id: int, batch_id: str) -> bool:
    return CloudRecord.objects.filter(
        studio_id=studio_id,
        source=CloudRecord.Source.FIRESTORE,
        collection=BATCHES,
        doc_id=batch_id,
        deleted_at__isnull=True,
    ).exists()


def studio_connectors(studio_id: int, kind: str) -> list[ConnectorConfig]:
    """The studio's connectors of ``kind``, by name (disabled ones too: configured is enough
    to propose; the execution gateway says when a disabled one cannot run)."""
    return list(ConnectorConfig.objects.filter(studio_id=studio_id, kind=kind).order_by("name"))


def connector_get(studio_id: int, name: str) -> ConnectorConfig | None:
    return ConnectorConfig.objects.filter(studio_id=studio_id, name=name).first()


def connector_devices(config: ConnectorConfig) -> list[Choice]:
    """The devices a proposal may name on ``config``: a hub's command allowlist, a Roborock
    connector's configured vacuums. Labels come from the latest readings when there are any."""
    return connectors_devices([config])[config.pk]


def connectors_devices(configs: list[ConnectorConfig]) -> dict[int, list[Choice]]:
    """``connector_devices`` of several connectors, by connector id (one query for labels)."""
    allowlists: dict[int, list[str]] = {}
    devices: dict[int, list[Choice]] = {}
    for config in configs:
        try:
            settings = validate_settings(config.kind, config.settings)
        except ConfigurationError:
            devices[config.pk] = []
            continue
        if isinstance(settings, HubitatSettings):
            allowlists[config.pk] = sorted(settings.command_allowlist, key=int)
        elif isinstance(settings, RoborockSettings):
            devices[config.pk] = [Choice(d.id, d.label or d.id) for d in settings.devices]
        else:
            devices[config.pk] = []
    labels: dict[tuple[int, str], str] = {}
    if allowlists:
        readings = DeviceReading.objects.filter(config_id__in=allowlists).values_list(
            "config_id", "device_id", "label"
        )
        labels = {(config_id, device_id): label for config_id, device_id, label in readings}
    for pk, ids in allowlists.items():
        devices[pk] = [
            Choice(i, f"{labels[(pk, i)]} (#{i})" if labels.get((pk, i)) else f"Device #{i}")
            for i in ids
        ]
    return devices


def executed_note_ids(
    studio_id: int, query: str = "", *, limit: int = LOOKUP_LIMIT
) -> list[Choice]:
    """The notes this studio's executed ops-note appends wrote (what a rollback may name)."""
    rows = Execution.objects.filter(
        studio_id=studio_id,
        proposal__capability_id=NOTE_APPEND,
        status=ExecutionStatus.SUCCEEDED,
        result__has_key="note_id",
    )
    if query.strip():
        rows = rows.filter(result__note_id__startswith=query.strip())
    found = rows.order_by("-pk").values_list("result__note_id", "proposal__summary")[:limit]
    return [Choice(str(note_id), summary) for note_id, summary in found]


def note_was_written(studio_id: int, note_id: str) -> bool:
    return Execution.objects.filter(
        studio_id=studio_id,
        proposal__capability_id=NOTE_APPEND,
        status=ExecutionStatus.SUCCEEDED,
        result__note_id=note_id,
    ).exists()
