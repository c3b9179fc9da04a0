"""The contract every connector kind must pass against its peer before it can land.

A kind provides a ``ContractPeer``: something that starts its real peer (a server on a
loopback socket, never a mock), builds the kind's connector pointed at it, injects the
faults below and counts what it received. ``tests/connectors/test_contract.py`` runs
every check here for every registered kind, and fails when a kind has no peer.

A transport that cannot express a fault (UDP has no "connection reset" and no HTTP 401)
says so in ``unsupported`` with the reason; the suite checks the reason is given rather
than silently skipping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel

from connectors.sdk.base import CallContext, Connector, MemoryRecorder
from connectors.sdk.breaker import CircuitBreaker
from connectors.sdk.errors import CircuitOpenError, ConnectorError, ErrorCode
from connectors.sdk.schemas import HealthReport, ReadQuery, ReadResult, WriteIntent


class Fault(StrEnum):
    DELAY = "delay past the timeout"
    UNAUTHORIZED = "401 / refused credentials"
    SERVER_ERROR = "500 / device-side error"
    REFUSED = "connection refused"
    MALFORMED = "malformed JSON"
    TRUNCATED = "truncated body"
    RESET = "connection reset"


EXPECTED: dict[Fault, ErrorCode] = {
    Fault.DELAY: ErrorCode.TIMEOUT,
    Fault.UNAUTHORIZED: ErrorCode.AUTH,
    Fault.SERVER_ERROR: ErrorCode.UNAVAILABLE,
    Fault.REFUSED: ErrorCode.UNAVAILABLE,
    Fault.MALFORMED: ErrorCode.BAD_RESPONSE,
    Fault.TRUNCATED: ErrorCode.BAD_RESPONSE,
    # A reset is the peer going away mid-conversation: transient, like a refused connection.
    Fault.RESET: ErrorCode.UNAVAILABLE,
}


class ContractFailure(AssertionError):
    """A connector broke the contract. The message says which clause."""


class ContractPeer(Protocol):
    kind: str
    unsupported: Mapping[Fault, str]
    # The read the suite makes: devices for device kinds, a collection or a resource of
    # records for cloud kinds (``ReadQuery(resource="documents", params=...)``).
    read_query: ReadQuery

    def connector(
        self,
        *,
        read_only: bool = True,
        breaker: CircuitBreaker | None = None,
        recorder: MemoryRecorder | None = None,
    ) -> Connector:
        """The kind's connector aimed at the peer (or, after REFUSED, at a dead address),
        with a short timeout and small retry waits so faults show quickly."""

    def inject(self, fault: Fault) -> None: ...

    def heal(self) -> None: ...

    def requests(self) -> int:
        """Requests (datagrams, HTTP requests) the peer has received so far."""

    def write_requests(self) -> int:
        """Requests that would change something on the device."""


def _require(condition: bool, clause: str) -> None:
    if not condition:
        raise ContractFailure(clause)


def _schema_valid(model: type[BaseModel], value: BaseModel, clause: str) -> None:
    try:
        model.model_validate(value.model_dump(mode="json"))
    except Exception as error:
        raise ContractFailure(f"{clause}: {error}") from error


def check_health_carries_correlation(peer: ContractPeer) -> HealthReport:
    connector = peer.connector()
    context = CallContext(request_id="contract-request-0001", job_id="contract-job-0001")
    try:
        report = connector.health(context)
    finally:
        connector.close()
    _schema_valid(HealthReport, report, "health() must return a valid HealthReport")
    meta = report.meta
    _require(meta is not None, "health() must carry call metadata")
    assert meta is not None
    _require(meta.request_id == context.request_id, "health() must carry the caller's request id")
    _require(meta.job_id == context.job_id, "health() must carry the caller's job id")
    _require(
        meta.input_hash.startswith("sha256:") and len(meta.input_hash) == 71,
        "health() needs an input hash",
    )
    _require(
        meta.output_hash.startswith("sha256:") and len(meta.output_hash) == 71,
        "health() needs an output hash",
    )
    _require(
        report.availability in ("healthy", "degraded"), "a healthy peer must not be reported down"
    )
    return report


def check_read_returns_schema_valid_devices(peer: ContractPeer) -> ReadResult:
    """A read returns schema-valid devices (device kinds) or records (cloud kinds)."""
    connector = peer.connector()
    try:
        result = connector.read(peer.read_query)
        again = connector.read(peer.read_query)
    finally:
        connector.close()
    _schema_valid(ReadResult, result, "read() must return a valid ReadResult")
    _require(
        len(result.devices) + len(result.records) > 0,
        "read() against the peer must return its devices or records",
    )
    for device in result.devices:
        _require(
            device.battery is None or 0 <= device.battery <= 100, "battery must be clamped to 0-100"
        )
        _require(bool(device.id) and bool(device.label), "every device needs an id and a label")
    for record in result.records:
        _require(
            bool(record.id) and bool(record.collection), "every record needs an id and a collection"
        )
    assert result.meta is not None and again.meta is not None
    _require(result.meta.input_hash == again.meta.input_hash, "the same query must hash the same")
    return result


def check_read_only_refuses_writes_before_io(peer: ContractPeer) -> None:
    recorder = MemoryRecorder()
    connector = peer.connector(read_only=True, recorder=recorder)
    before_requests, before_writes = peer.requests(), peer.write_requests()
    intent = WriteIntent(
        operation=(type(connector).write_operations or ("device.command",))[0],
        target="1",
        params={"command": "on"},
        idempotency_key="contract-write-0001",
    )
    try:
        connector.execute(intent)
    except ConnectorError as error:
        _require(
            error.code == ErrorCode.READ_ONLY_VIOLATION,
            f"expected READ_ONLY_VIOLATION, got {error.code}",
        )
        _require(not error.transient, "READ_ONLY_VIOLATION must be permanent")
    else:
        raise ContractFailure(
            "a write intent on a read-only connector must raise READ_ONLY_VIOLATION"
        )
    finally:
        connector.close()
    _require(peer.write_requests() == before_writes, "the peer must record zero write requests")
    _require(peer.requests() == before_requests, "a refused write must send nothing at all")
    _require(
        [c.outcome for c in recorder.calls] == ["refused"],
        "the refused write intent must be recorded",
    )
    _require(
        recorder.calls[0].error_code == ErrorCode.READ_ONLY_VIOLATION,
        "the record must carry the code",
    )


def check_fault_maps_to_code(
    peer: ContractPeer, fault: Fault, operation: str = "health"
) -> ConnectorError:
    expected = EXPECTED[fault]
    recorder = MemoryRecorder()
    peer.inject(fault)
    connector = peer.connector(recorder=recorder)
    try:
        call: Callable[[], Any] = (
            connector.health if operation == "health" else lambda: connector.read(peer.read_query)
        )
        call()
    except ConnectorError as error:
        _require(
            error.code == expected,
            f"{fault.value} must map to {expected}, got {error.code}: {error}",
        )
        _require(
            error.transient == expected.transient,
            f"{expected} must be {'transient' if expected.transient else 'permanent'}",
        )
        _require(
            [c.outcome for c in recorder.calls] == ["failed"], "a failed call must be recorded once"
        )
        _require(recorder.calls[0].error_code == expected, "the failure record must carry the code")
        return error
    else:
        raise ContractFailure(f"{fault.value} must fail with {expected}, but the call succeeded")
    finally:
        connector.close()
        peer.heal()


def check_breaker_opens_and_closes(peer: ContractPeer, breaker: CircuitBreaker) -> None:
    """Three failures open the breaker; while open no request reaches the peer; after the
    backoff one probe goes through and, when it succeeds, the breaker closes."""
    breaker.reset()
    fault = next(
        f for f in (Fault.SERVER_ERROR, Fault.REFUSED, Fault.DELAY) if f not in peer.unsupported
    )
    peer.inject(fault)
    connector = peer.connector(breaker=breaker)
    try:
        for attempt in range(breaker.policy.failure_threshold):
            try:
                connector.health()
            except CircuitOpenError as error:
                raise ContractFailure(
                    f"the breaker opened after {attempt} failures, not 3"
                ) from error
            except ConnectorError:
                pass
            else:
                raise ContractFailure("the injected fault did not fail the call")
        _require(
            breaker.snapshot().state == "open",
            "the breaker must be open after 3 consecutive failures",
        )
        before = peer.requests()
        try:
            connector.health()
        except CircuitOpenError:
            pass
        else:
            raise ContractFailure("an open breaker must refuse calls")
        _require(peer.requests() == before, "an open breaker must refuse without any I/O")
    finally:
        connector.close()
    peer.heal()
    time.sleep(breaker.policy.initial_backoff + 0.05)
    connector = peer.connector(breaker=breaker)
    try:
        report = connector.health()
    finally:
        connector.close()
    assert report.meta is not None
    _require(
        report.meta.breaker_state == "half_open_probe",
        "the first call after the backoff must be the probe",
    )
    _require(breaker.snapshot().state == "closed", "a good probe must close the breaker")
