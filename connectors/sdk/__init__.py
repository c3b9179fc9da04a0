"""The connector SDK: base class, typed schemas, error taxonomy, retry, circuit breaker,
registry and the contract harness. Nothing here imports Django or the rest of the brain."""

from connectors.sdk.base import CallContext, CallRecord, CallRecorder, Connector, MemoryRecorder
from connectors.sdk.breaker import BreakerPolicy, CircuitBreaker
from connectors.sdk.errors import CircuitOpenError, ConfigurationError, ConnectorError, ErrorCode
from connectors.sdk.registry import connector_class, kinds, register
from connectors.sdk.schemas import (
    Availability,
    ConnectorSettings,
    Device,
    HealthReport,
    ReadQuery,
    ReadResult,
    Record,
    WriteIntent,
    WriteOutcome,
)

__all__ = [
    "Availability",
    "BreakerPolicy",
    "CallContext",
    "CallRecord",
    "CallRecorder",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfigurationError",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "Device",
    "ErrorCode",
    "HealthReport",
    "MemoryRecorder",
    "ReadQuery",
    "ReadResult",
    "Record",
    "WriteIntent",
    "WriteOutcome",
    "connector_class",
    "kinds",
    "register",
]
