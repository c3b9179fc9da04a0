"""The Firestore write pilot: the ONLY module that writes to Firestore (tests/test_guardrails.py).

Kind ``firestore_pilot``, separate from the read-only Firestore reader so a studio can run
the reader without any write path configured. It writes nothing on its own: only
governance's execution gateway sends it a ``WriteIntent``, and only when the connector's
config is in ``write_pilot`` mode (a read-only config is refused in the SDK before any I/O).

Three operations, each in ONE Firestore transaction:

- ``ops_note.append``: creates ``studioBrainPilotOpsNotes/{proposalId}__{idempotencyKey}``
  and ``studioBrainPilotActions/{proposalId}__{idempotencyKey}``. The transaction first reads
  the note: if it exists, nothing is written and the outcome is ``replayed``. Both creates
  carry the ``exists=False`` precondition, so two racing attempts cannot both write.
- ``ops_note.rollback``: marks an existing note ``rolled_back`` (the note stays as history)
  and records the rollback in ``studioBrainPilotActions`` under the rollback proposal's own
  ``{proposalId}__{idempotencyKey}``; a repeat is ``replayed``.
- ``reconciliation.adjust``: records a finance adjustment request in
  ``studioBrainPilotActions/{proposalId}__{idempotencyKey}`` (order, flag class, Stripe
  evidence, note) for the studio's cloud app to act on; the order itself is only read, to
  refuse an adjustment of an order the cloud no longer has. ``action: restore`` also marks
  the adjustment it reverts ``withdrawn`` (the document stays, as history).

The documents are built by pure functions (``ops_note_documents``, ``rollback_documents``,
``adjustment_documents``)
that the dry run shows verbatim, with ``<server time at commit>`` where the server's
timestamp goes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.api_core import exceptions as api_exceptions
from google.cloud import firestore
from pydantic import Field, field_validator

from connectors.firestore.client import plain_fields
from connectors.sdk.base import Connector
from connectors.sdk.canonical import normalize
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.registry import register
from connectors.sdk.schemas import (
    Availability,
    ConnectorSettings,
    Device,
    HealthReport,
    ReadQuery,
    ReadResult,
    WriteCheck,
    WriteIntent,
    WriteOutcome,
    WritePreview,
)

NOTES = "studioBrainPilotOpsNotes"
ACTIONS = "studioBrainPilotActions"
APPEND = "ops_note.append"
ROLLBACK = "ops_note.rollback"
ADJUST = "reconciliation.adjust"
PREVIEW_SERVER_TIME = "<server time at commit>"
EMULATOR_ENV = "FIRESTORE_EMULATOR_HOST"

T = TypeVar("T")


class FirestorePilotSettings(ConnectorSettings):
    project: str = Field(
        pattern=r"^[a-z][a-z0-9-]{3,62}$", description="Google Cloud project of the Firestore."
    )
    database: str = Field("(default)", min_length=1, max_length=63)
    emulator: bool = Field(
        False,
        description="Talk to the emulator named by FIRESTORE_EMULATOR_HOST, without credentials "
        "(tests and demos). Off: FIRESTORE_EMULATOR_HOST must be unset.",
    )
    # A write is never retried by the SDK (the transaction is retried by the client only when
    # Firestore aborts it for contention); reads (dry run, read-back) may be.
    retry_attempts: int = Field(2, ge=1, le=10)

    @field_validator("database")
    @classmethod
    def database_is_a_name(cls, value: str) -> str:
        if value != "(default)" and not value.replace("-", "").isalnum():
            raise ValueError("must be (default) or a database id (letters, digits, hyphens)")
        return value


def pilot_document_id(proposal_id: Any, idempotency_key: str) -> str:
    """``{proposalId}__{idempotencyKey}``: the same attempt always names the same documents."""
    return f"{proposal_id}__{idempotency_key}"


def ops_note_documents(intent: WriteIntent, server_time: Any) -> list[dict[str, Any]]:
    """The two documents ``ops_note.append`` creates (``server_time`` fills the timestamps)."""
    params = intent.params
    document_id = pilot_document_id(params["proposal_id"], intent.idempotency_key)
    return [
        {
            "collection": NOTES,
            "id": document_id,
            "write": "create",
            "fields": {
                "batchId": params["batch_id"],
                "note": params["note"],
                "status": "active",
                "studio": params["studio"],
                "proposalId": params["proposal_id"],
                "idempotencyKey": intent.idempotency_key,
                "inputHash": params["input_hash"],
                "createdBy": "studio-brain",
                "createdAt": server_time,
            },
        },
        {
            "collection": ACTIONS,
            "id": document_id,
            "write": "create",
            "fields": {
                "capability": params["capability"],
                "operation": APPEND,
                "studio": params["studio"],
                "proposalId": params["proposal_id"],
                "idempotencyKey": intent.idempotency_key,
                "inputHash": params["input_hash"],
                "collection": NOTES,
                "documentId": document_id,
                "batchId": params["batch_id"],
                "createdAt": server_time,
            },
        },
    ]


def rollback_documents(intent: WriteIntent, server_time: Any) -> list[dict[str, Any]]:
    """The note update and the action document ``ops_note.rollback`` writes."""
    params = intent.params
    action_id = pilot_document_id(params["proposal_id"], intent.idempotency_key)
    return [
        {
            "collection": NOTES,
            "id": params["note_id"],
            "write": "update",
            "fields": {
                "status": "rolled_back",
                "rolledBackBy": action_id,
                "rollbackReason": params["reason"],
                "rolledBackAt": server_time,
            },
        },
        {
            "collection": ACTIONS,
            "id": action_id,
            "write": "create",
            "fields": {
                "capability": params["capability"],
                "operation": ROLLBACK,
                "studio": params["studio"],
                "proposalId": params["proposal_id"],
                "idempotencyKey": intent.idempotency_key,
                "inputHash": params["input_hash"],
                "collection": NOTES,
                "documentId": params["note_id"],
                "reason": params["reason"],
                "createdAt": server_time,
            },
        },
    ]


def adjustment_documents(intent: WriteIntent, server_time: Any) -> list[dict[str, Any]]:
    """The action document ``reconciliation.adjust`` creates (first), and for a restore the
    update that withdraws the adjustment it reverts."""
    params = intent.params
    action_id = pilot_document_id(params["proposal_id"], intent.idempotency_key)
    fields = {
        "capability": params["capability"],
        "operation": ADJUST,
        "action": params["action"],
        "status": "requested",
        "studio": params["studio"],
        "proposalId": params["proposal_id"],
        "idempotencyKey": intent.idempotency_key,
        "inputHash": params["input_hash"],
        "collection": params["order_collection"],
        "documentId": params["order_id"],
        "flagClass": params["flag_class"],
        "localFlagId": params["flag_id"],
        "evidence": list(params["evidence"]),
        "note": params["note"],
        "createdAt": server_time,
    }
    documents = [{"collection": ACTIONS, "id": action_id, "write": "create", "fields": fields}]
    if params["action"] == "restore":
        fields["reverts"] = params["reverts"]
        documents.append(
            {
                "collection": ACTIONS,
                "id": params["reverts"],
                "write": "update",
                "fields": {
                    "status": "withdrawn",
                    "withdrawnBy": action_id,
                    "withdrawnAt": server_time,
                },
            }
        )
    return documents


@register
class FirestorePilotConnector(Connector):
    kind = "firestore_pilot"
    version = "1.0"
    settings_model = FirestorePilotSettings
    secret_keys = ("credentials",)
    read_resources = ("devices",)
    write_operations = (APPEND, ROLLBACK, ADJUST)
    description = (
        "Firestore write pilot: ops notes on batches and finance adjustment requests, "
        "in one transaction each."
    )
    settings: FirestorePilotSettings

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._db: firestore.Client | None = None

    @classmethod
    def required_secret_keys(cls, settings: ConnectorSettings) -> tuple[str, ...]:
        assert isinstance(settings, FirestorePilotSettings)
        return () if settings.emulator else cls.secret_keys

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- operations ----------------------------------------------------------------------

    def _health(self) -> HealthReport:
        self.retry(
            self._firestore, "GET", lambda db: self._get(db.collection(ACTIONS).document("_"))
        )
        return HealthReport(
            availability=Availability.HEALTHY,
            detail=f"Firestore {self.settings.project} answered",
            devices_total=2,
            devices_reachable=2,
        )

    def _read(self, query: ReadQuery) -> ReadResult:
        """The pilot's two collections as the connector page's "devices", with their sizes."""
        read_at = datetime.now(UTC)
        devices = []
        for collection, label in ((NOTES, "Pilot ops notes"), (ACTIONS, "Pilot actions")):
            count = self.retry(
                self._firestore, "COUNT", lambda db, c=collection: self._count(db, c)
            )
            devices.append(
                Device(
                    id=collection,
                    label=label,
                    type="firestore-collection",
                    online=True,
                    attributes={"documents": count},
                    seen_at=read_at,
                )
            )
        return ReadResult(resource=query.resource, read_at=read_at, devices=devices)

    def _execute(self, intent: WriteIntent) -> WriteOutcome:
        if intent.operation == APPEND:
            return self._firestore("commit", lambda db: self._append(db, intent))
        if intent.operation == ROLLBACK:
            return self._firestore("commit", lambda db: self._rollback(db, intent))
        if intent.operation == ADJUST:
            return self._firestore("commit", lambda db: self._adjust(db, intent))
        return super()._execute(intent)

    def _preview(self, intent: WriteIntent) -> WritePreview:
        notes = []
        if self.read_only:
            notes.append(
                "This connector is read-only: execution will be refused until it is switched "
                "to write_pilot mode."
            )
        if intent.operation == APPEND:
            batch_id = intent.params["batch_id"]
            batch = self.retry(
                self._firestore,
                "GET",
                lambda db: self._get(db.collection("batches").document(batch_id)),
            )
            if not batch.exists:
                notes.append(
                    f"There is no batch {batch_id!r} in Firestore; the note would name it anyway."
                )
            return WritePreview(
                operation=intent.operation,
                target=intent.target,
                current={"batch_exists": batch.exists, "note": "absent", "action": "absent"},
                expected={"batch_exists": batch.exists, "note": "created", "action": "created"},
                documents=ops_note_documents(intent, PREVIEW_SERVER_TIME),
                notes=notes,
            )
        if intent.operation == ADJUST:
            return self._adjust_preview(intent, notes)
        note_id = intent.params["note_id"]
        note = self.retry(
            self._firestore, "GET", lambda db: self._get(db.collection(NOTES).document(note_id))
        )
        current = _plain(note.to_dict()) if note.exists else {}
        if not note.exists:
            notes.append(f"There is no note {note_id!r}; execution will fail and write nothing.")
        elif current.get("status") == "rolled_back":
            notes.append("The note is already rolled back; only the action is recorded.")
        status = current.get("status", "absent")
        return WritePreview(
            operation=intent.operation,
            target=intent.target,
            current={
                "note_status": status,
                "note_text": current.get("note", ""),
                "action": "absent",
            },
            expected={
                "note_status": "rolled_back" if note.exists else "absent",
                "note_text": current.get("note", ""),
                "action": "created" if note.exists else "absent",
            },
            documents=rollback_documents(intent, PREVIEW_SERVER_TIME),
            notes=notes,
        )

    def _adjust_preview(self, intent: WriteIntent, notes: list[str]) -> WritePreview:
        params = intent.params
        order, reverted = self._adjust_reads(intent)
        order_fields = _plain(order.to_dict()) if order.exists else {}
        current: dict[str, Any] = {
            "order_exists": order.exists,
            "order_status": order_fields.get("status", "absent" if not order.exists else ""),
            "order_total_cents": order_fields.get("totalCents", order_fields.get("priceCents", "")),
            "order_currency": order_fields.get("currency", ""),
            "action": "absent",
        }
        expected = {**current, "action": "created" if order.exists else "absent"}
        if not order.exists:
            notes.append(
                f"There is no {params['order_collection']} order {params['order_id']!r} in "
                "Firestore; execution will fail and write nothing."
            )
        if reverted is not None:
            reverted_fields = _plain(reverted.to_dict()) if reverted.exists else {}
            current["reverted_status"] = reverted_fields.get("status", "absent")
            expected["reverted_status"] = "withdrawn" if reverted.exists else "absent"
            if not reverted.exists:
                notes.append(
                    f"There is no adjustment {params['reverts']!r} to withdraw; execution will "
                    "fail and write nothing."
                )
        return WritePreview(
            operation=intent.operation,
            target=intent.target,
            current=current,
            expected=expected,
            documents=adjustment_documents(intent, PREVIEW_SERVER_TIME),
            notes=notes,
        )

    def _adjust_reads(self, intent: WriteIntent) -> tuple[Any, Any]:
        """The order (and, for a restore, the adjustment it reverts), outside a transaction."""
        params = intent.params

        def read(db: firestore.Client) -> tuple[Any, Any]:
            order = self._get(
                db.collection(params["order_collection"]).document(params["order_id"])
            )
            reverted = None
            if params["action"] == "restore":
                reverted = self._get(db.collection(ACTIONS).document(params["reverts"]))
            return order, reverted

        return self.retry(self._firestore, "GET", read)

    def _created_check(self, intent: WriteIntent, collection: str, label: str) -> WriteCheck:
        """Read back the document an attempt creates: applied when it carries this key."""
        document_id = pilot_document_id(intent.params["proposal_id"], intent.idempotency_key)
        document = self.retry(
            self._firestore,
            "GET",
            lambda db: self._get(db.collection(collection).document(document_id)),
        )
        fields = _plain(document.to_dict()) if document.exists else {}
        return WriteCheck(
            target=intent.target,
            state={
                "document": f"{collection}/{document_id}",
                "exists": document.exists,
                label: fields,
            },
            applied=document.exists and fields.get("idempotencyKey") == intent.idempotency_key,
        )

    def _verify(self, intent: WriteIntent) -> WriteCheck:
        if intent.operation == ADJUST:
            return self._created_check(intent, ACTIONS, "action")
        if intent.operation == APPEND:
            return self._created_check(intent, NOTES, "note")
        action_id = pilot_document_id(intent.params["proposal_id"], intent.idempotency_key)
        action, note = self.retry(
            self._firestore,
            "GET",
            lambda db: (
                self._get(db.collection(ACTIONS).document(action_id)),
                self._get(db.collection(NOTES).document(intent.params["note_id"])),
            ),
        )
        note_fields = _plain(note.to_dict()) if note.exists else {}
        return WriteCheck(
            target=intent.target,
            state={"action_exists": action.exists, "note": note_fields},
            applied=action.exists,
        )

    # -- the transactions ------------------------------------------------------------------

    def _append(self, db: firestore.Client, intent: WriteIntent) -> WriteOutcome:
        documents = ops_note_documents(intent, firestore.SERVER_TIMESTAMP)
        note_ref = db.collection(NOTES).document(documents[0]["id"])

        @firestore.transactional
        def write(transaction: Any) -> bool:
            if self._get(note_ref, transaction).exists:
                return False
            for document in documents:
                reference = db.collection(document["collection"]).document(document["id"])
                transaction.create(reference, document["fields"])
            return True

        written = _commit_once(write, db)
        return self._outcome(intent, documents, written)

    def _rollback(self, db: firestore.Client, intent: WriteIntent) -> WriteOutcome:
        documents = rollback_documents(intent, firestore.SERVER_TIMESTAMP)
        note_ref = db.collection(NOTES).document(intent.params["note_id"])
        action_ref = db.collection(ACTIONS).document(documents[1]["id"])

        @firestore.transactional
        def write(transaction: Any) -> bool:
            if self._get(action_ref, transaction).exists:
                return False
            note = self._get(note_ref, transaction)
            if not note.exists:
                raise _nothing_to(f"there is no note {intent.params['note_id']!r} to roll back")
            if (note.to_dict() or {}).get("status") != "rolled_back":
                transaction.update(note_ref, documents[0]["fields"])
            transaction.create(action_ref, documents[1]["fields"])
            return True

        written = _commit_once(write, db)
        return self._outcome(intent, documents, written)

    def _adjust(self, db: firestore.Client, intent: WriteIntent) -> WriteOutcome:
        params = intent.params
        documents = adjustment_documents(intent, firestore.SERVER_TIMESTAMP)
        action_ref = db.collection(ACTIONS).document(documents[0]["id"])
        order_ref = db.collection(params["order_collection"]).document(params["order_id"])

        @firestore.transactional
        def write(transaction: Any) -> bool:
            if self._get(action_ref, transaction).exists:
                return False
            if not self._get(order_ref, transaction).exists:
                raise _nothing_to(
                    f"there is no {params['order_collection']} order {params['order_id']!r} "
                    "in Firestore to adjust"
                )
            reverted_ref = None
            if params["action"] == "restore":
                reverted_ref = db.collection(ACTIONS).document(params["reverts"])
                reverted = self._get(reverted_ref, transaction)
                if not reverted.exists or (reverted.to_dict() or {}).get("operation") != ADJUST:
                    raise _nothing_to(f"there is no adjustment {params['reverts']!r} to withdraw")
                if (reverted.to_dict() or {}).get("status") == "withdrawn":
                    reverted_ref = None  # withdrawn already: only this action is recorded
            transaction.create(action_ref, documents[0]["fields"])
            if reverted_ref is not None:
                transaction.update(reverted_ref, documents[1]["fields"])
            return True

        written = _commit_once(write, db)
        return self._outcome(intent, documents, written, result_key="action_id")

    @staticmethod
    def _outcome(
        intent: WriteIntent,
        documents: list[dict[str, Any]],
        written: bool,
        *,
        result_key: str = "note_id",
    ) -> WriteOutcome:
        paths = [f"{d['collection']}/{d['id']}" for d in documents]
        return WriteOutcome(
            accepted=True,
            replayed=not written,
            detail=("wrote " if written else "already written, nothing sent: ") + ", ".join(paths),
            result={"documents": paths, result_key: documents[0]["id"]},
        )

    # -- the client ------------------------------------------------------------------------

    def _count(self, db: firestore.Client, collection: str) -> int:
        results = db.collection(collection).count().get(retry=None, timeout=self.settings.timeout)
        return int(results[0][0].value)

    def _get(self, reference: Any, transaction: Any = None) -> Any:
        return reference.get(transaction=transaction, retry=None, timeout=self.settings.timeout)

    def _client(self) -> firestore.Client:
        if self._db is not None:
            return self._db
        emulator_host = os.environ.get(EMULATOR_ENV)
        if self.settings.emulator:
            if not emulator_host:
                raise ConnectorError(
                    ErrorCode.UNAVAILABLE,
                    f"emulator mode needs {EMULATOR_ENV}=host:port",
                    transient=False,
                )
            self._db = firestore.Client(
                project=self.settings.project, database=self.settings.database
            )
            return self._db
        if emulator_host:
            # Fail safe: a pilot meant for the real Firestore must never write to an emulator
            # because of a stray variable (and the client would silently follow it).
            raise ConnectorError(
                ErrorCode.AUTH,
                f"{EMULATOR_ENV} is set but this connector writes to the real Firestore; unset it",
                transient=False,
            )
        from google.oauth2 import service_account

        try:
            info = json.loads(self.secrets["credentials"])
            credentials = service_account.Credentials.from_service_account_info(info)
        except (ValueError, KeyError) as error:
            raise ConnectorError(
                ErrorCode.AUTH,
                f"the credentials secret is not a service-account JSON ({type(error).__name__})",
                transient=False,
            ) from None
        self._db = firestore.Client(
            project=self.settings.project, database=self.settings.database, credentials=credentials
        )
        return self._db

    def _firestore(self, what: str, work: Callable[[firestore.Client], T]) -> T:
        """``work(client)`` with Google's exceptions mapped onto the SDK's codes."""
        try:
            return work(self._client())
        except ConnectorError:
            raise
        except api_exceptions.DeadlineExceeded:
            raise ConnectorError(ErrorCode.TIMEOUT, f"Firestore {what} took too long") from None
        except (api_exceptions.Unauthenticated, api_exceptions.PermissionDenied) as error:
            raise ConnectorError(
                ErrorCode.AUTH, f"Firestore refused {what}: {error.message}"[:300]
            ) from None
        except (api_exceptions.TooManyRequests, api_exceptions.ResourceExhausted):
            raise ConnectorError(
                ErrorCode.RATE_LIMITED, f"Firestore asked us to slow down ({what})"
            ) from None
        except (
            api_exceptions.ServiceUnavailable,
            api_exceptions.InternalServerError,
            api_exceptions.Aborted,
        ) as error:
            raise ConnectorError(
                ErrorCode.UNAVAILABLE, f"Firestore {what}: {type(error).__name__}"
            ) from None
        except ValueError as error:  # the client gave up after repeated contention
            raise ConnectorError(
                ErrorCode.UNAVAILABLE, f"Firestore {what}: {error}"[:300]
            ) from None
        except api_exceptions.GoogleAPICallError as error:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"Firestore {what}: {type(error).__name__}: {error.message}"[:300],
                transient=False,
            ) from None


def _commit_once(write: Callable[[Any], bool], db: firestore.Client) -> bool:
    """Run a transactional ``write``: False when it found its own documents already there, or
    a racing attempt with the same key committed first (the create precondition failed)."""
    try:
        return write(db.transaction())
    except api_exceptions.AlreadyExists:
        return False


def _nothing_to(message: str) -> ConnectorError:
    """A write refused before anything is sent: what it acts on is not there (not retried)."""
    return ConnectorError(ErrorCode.UNKNOWN, message, transient=False)


def _plain(fields: dict[str, Any] | None) -> dict[str, Any]:
    """Document fields as JSON values, for state hashes and display.

    Firestore types become plain values explicitly (``plain_fields``: references their path,
    geo points a mapping, bytes base64), then ``normalize`` writes timestamps in the one
    canonical form; a value with no form raises instead of being stringified.
    """
    result: dict[str, Any] = normalize(plain_fields(fields or {}))
    return result
