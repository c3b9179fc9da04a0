"""The base ``Connector``: one call pipeline that every kind goes through.

``health()``, ``read(query)`` and ``execute(intent)`` are final. Each one:

1. takes the request/job id from the caller's ``CallContext`` or, by default, from the
   structlog context the web request or Celery task bound (connectors cannot import
   brain, so they read the context variables directly);
2. hashes its input; a write intent on a read-only connector fails with
   READ_ONLY_VIOLATION here, before any I/O;
3. asks the circuit breaker (shared in Redis) for admission;
4. runs the kind's ``_health``/``_read``/``_execute``, whose I/O units go through
   ``self.retry`` (stamina: exponential backoff with jitter, transient codes only) and
   carry the kind's own timeouts;
5. maps anything unexpected to UNKNOWN, tells the breaker, hashes the output, logs one
   ``connector.call`` line, and records failed calls and write intents through the
   ``CallRecorder`` (a ``ConnectorCall`` row).
"""

from __future__ import annotations

import contextvars
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import stamina
import structlog
from pydantic import BaseModel

from connectors.sdk.breaker import Admission, CircuitBreaker
from connectors.sdk.errors import CircuitOpenError, ConnectorError, ErrorCode
from connectors.sdk.hashing import content_hash
from connectors.sdk.redaction import redact
from connectors.sdk.schemas import (
    CallMeta,
    ConnectorSettings,
    HealthReport,
    ReadQuery,
    ReadResult,
    WriteCheck,
    WriteIntent,
    WriteOutcome,
    WritePreview,
)

log = structlog.stdlib.get_logger("connectors.sdk")

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class CallContext:
    """The correlation ids a call carries. ``current()`` reads what the caller bound."""

    request_id: str | None = None
    job_id: str | None = None

    @classmethod
    def current(cls) -> CallContext:
        bound = structlog.contextvars.get_contextvars()
        request_id, job_id = bound.get("request_id"), bound.get("job_id")
        return cls(
            request_id=str(request_id) if request_id else None,
            job_id=str(job_id) if job_id else None,
        )


@dataclass(frozen=True)
class CallRecord:
    """What the audit trail keeps about one call (a failure or a write intent)."""

    kind: str
    instance: str
    operation: str
    outcome: str  # failed | refused | intent | written
    request_id: str | None
    job_id: str | None
    input_hash: str
    output_hash: str
    error_code: str
    latency_ms: float
    attempts: int
    detail: dict[str, Any] = field(default_factory=dict)


class CallRecorder(Protocol):
    def record(self, call: CallRecord) -> None: ...


class MemoryRecorder:
    """Keeps records in a list: for code that runs without a database (benchmarks, scripts)."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self._lock = threading.Lock()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self.calls.append(call)


class _CallState:
    """Per-call counters shared with worker threads (they run in a copied context)."""

    def __init__(self, probe: bool) -> None:
        self.probe = probe
        self.attempts = 0
        self._lock = threading.Lock()

    def attempt(self) -> None:
        with self._lock:
            self.attempts += 1


_call_state: contextvars.ContextVar[_CallState | None] = contextvars.ContextVar(
    "connector_call", default=None
)


class Connector(ABC):
    """Base of every connector kind. Subclasses set the class attributes and the ``_`` methods."""

    kind: ClassVar[str]
    version: ClassVar[str]
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    # Secret keys the kind needs (values come from env vars named in the config).
    secret_keys: ClassVar[tuple[str, ...]] = ()
    read_resources: ClassVar[tuple[str, ...]] = ("devices",)
    write_operations: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def __init__(
        self,
        *,
        instance: str,
        settings: ConnectorSettings,
        secrets: Mapping[str, str] | None = None,
        read_only: bool = True,
        breaker: CircuitBreaker | None = None,
        recorder: CallRecorder | None = None,
    ) -> None:
        self.instance = instance
        self.settings = settings
        self.secrets = dict(secrets or {})
        self.read_only = read_only
        self.breaker = breaker
        self.recorder = recorder or MemoryRecorder()
        missing = [key for key in self.required_secret_keys(settings) if not self.secrets.get(key)]
        if missing:
            raise ValueError(f"{self.kind} connector needs secrets: {', '.join(missing)}")

    @classmethod
    def required_secret_keys(cls, settings: ConnectorSettings) -> tuple[str, ...]:
        """Secret keys these settings need (a kind with per-device tokens overrides this)."""
        return cls.secret_keys

    # -- the public, final API ---------------------------------------------------------

    def health(self, context: CallContext | None = None) -> HealthReport:
        return self._invoke("health", {}, self._health, context=context)

    def read(
        self, query: ReadQuery | None = None, context: CallContext | None = None
    ) -> ReadResult:
        query = query or ReadQuery()
        if query.resource not in self.read_resources:
            raise ConnectorError(
                ErrorCode.UNKNOWN,
                f"{self.kind} cannot read {query.resource!r}; "
                f"it reads {', '.join(self.read_resources)}",
            )
        return self._invoke(
            "read", query.model_dump(mode="json"), lambda: self._read(query), context=context
        )

    def execute(self, intent: WriteIntent, context: CallContext | None = None) -> WriteOutcome:
        return self._invoke(
            "execute",
            intent.model_dump(mode="json"),
            lambda: self._execute(intent),
            context=context,
            write=True,
        )

    def preview(self, intent: WriteIntent, context: CallContext | None = None) -> WritePreview:
        """A dry run of ``intent``: reads only, so it is allowed on a read-only connector too."""
        self._check_operation(intent)
        return self._invoke(
            "preview",
            intent.model_dump(mode="json"),
            lambda: self._preview(intent),
            context=context,
        )

    def verify(self, intent: WriteIntent, context: CallContext | None = None) -> WriteCheck:
        """Read back the state ``intent`` concerns and say whether it shows the write applied.

        Governance reads it before and after a write (the audit's pre/post state hashes) and
        to settle an execution whose worker vanished, instead of sending the write again.
        """
        self._check_operation(intent)
        return self._invoke(
            "verify",
            intent.model_dump(mode="json"),
            lambda: self._verify(intent),
            context=context,
        )

    def close(self) -> None:  # noqa: B027 (a kind without sockets has nothing to close)
        """Release clients and sockets. Safe to call twice."""

    # -- what a kind implements ----------------------------------------------------------

    @abstractmethod
    def _health(self) -> HealthReport: ...

    @abstractmethod
    def _read(self, query: ReadQuery) -> ReadResult: ...

    def _execute(self, intent: WriteIntent) -> WriteOutcome:
        raise ConnectorError(
            ErrorCode.UNKNOWN,
            f"{self.kind} {self.version} has no write operation {intent.operation!r}",
        )

    def _preview(self, intent: WriteIntent) -> WritePreview:
        raise ConnectorError(
            ErrorCode.UNKNOWN, f"{self.kind} {self.version} has no dry run for {intent.operation!r}"
        )

    def _verify(self, intent: WriteIntent) -> WriteCheck:
        raise ConnectorError(
            ErrorCode.UNKNOWN,
            f"{self.kind} {self.version} cannot read back {intent.operation!r}",
        )

    def _check_operation(self, intent: WriteIntent) -> None:
        if intent.operation not in self.write_operations:
            raise ConnectorError(
                ErrorCode.UNKNOWN,
                f"{self.kind} has no write operation {intent.operation!r}; "
                f"it has {', '.join(self.write_operations) or 'none'}",
            )

    # -- helpers for kinds ------------------------------------------------------------

    def retry(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one unit of I/O, retrying transient ``ConnectorError``s with backoff and jitter.

        A breaker probe gets a single attempt: it exists to learn whether the peer is back,
        not to hammer it.
        """
        state = _call_state.get()
        attempts = 1 if state is not None and state.probe else self.settings.retry_attempts
        for attempt in stamina.retry_context(
            on=self._retry_hook,
            attempts=attempts,
            timeout=self.settings.total_timeout,
            wait_initial=self.settings.retry_wait_initial,
            wait_max=self.settings.retry_wait_max,
            wait_jitter=self.settings.retry_jitter,
        ):
            with attempt:
                if state is not None:
                    state.attempt()
                return fn(*args)
        raise AssertionError("stamina ended without a result or an error")  # pragma: no cover

    def _retry_hook(self, error: Exception) -> bool | float:
        if not isinstance(error, ConnectorError) or not error.transient:
            return False
        if error.retry_after is not None:
            # A Retry-After the peer sent wins over our backoff, within our own ceiling.
            return min(max(error.retry_after, 0.0), self.settings.retry_wait_max)
        return True

    def redact(self, text: str) -> str:
        """``text`` without this connector's secrets or token-like query parameters."""
        return redact(text, self.secrets.values())

    # -- the pipeline ------------------------------------------------------------------

    def _invoke(
        self,
        operation: str,
        payload: dict[str, Any],
        body: Callable[[], M],
        *,
        context: CallContext | None,
        write: bool = False,
    ) -> M:
        context = context or CallContext.current()
        input_hash = content_hash(
            {"kind": self.kind, "instance": self.instance, "operation": operation, "input": payload}
        )
        started = time.perf_counter()

        def fail(
            error: ConnectorError, outcome: str, attempts: int, breaker_state: str
        ) -> ConnectorError:
            latency = (time.perf_counter() - started) * 1000
            self._log(
                operation,
                outcome,
                context,
                input_hash,
                "",
                latency,
                attempts,
                error.code,
                error.message,
            )
            self._record(
                CallRecord(
                    kind=self.kind,
                    instance=self.instance,
                    operation=operation,
                    outcome=outcome,
                    request_id=context.request_id,
                    job_id=context.job_id,
                    input_hash=input_hash,
                    output_hash="",
                    error_code=str(error.code),
                    latency_ms=round(latency, 1),
                    attempts=attempts,
                    detail={
                        **error.as_json(),
                        "breaker": breaker_state,
                        "input": payload if write else {},
                    },
                ),
                must=False,
            )
            return error

        if write and self.read_only:
            raise fail(
                ConnectorError(
                    ErrorCode.READ_ONLY_VIOLATION,
                    f"{self.kind} connector {self.instance} is read-only; "
                    f"{intent_name(payload)} was refused "
                    "before any request was sent",
                ),
                "refused",
                0,
                "not_asked",
            )

        admission = self.breaker.admit() if self.breaker else Admission(True, False, "none", 0.0)
        if not admission.allowed:
            raise fail(CircuitOpenError(admission.retry_in), "refused", 0, admission.state)

        if write:
            # Deny on missing audit: the intent is recorded before the write is sent; if it
            # cannot be recorded, the write does not happen.
            self._record(
                CallRecord(
                    kind=self.kind,
                    instance=self.instance,
                    operation=operation,
                    outcome="intent",
                    request_id=context.request_id,
                    job_id=context.job_id,
                    input_hash=input_hash,
                    output_hash="",
                    error_code="",
                    latency_ms=0.0,
                    attempts=0,
                    detail={"input": payload},
                ),
                must=True,
            )

        state = _CallState(probe=admission.probe)
        token = _call_state.set(state)
        try:
            result = body()
        except ConnectorError as error:
            self._tell_breaker(False, admission)
            raise fail(error, "failed", state.attempts, admission.state) from error
        except Exception as error:  # anything unmapped is UNKNOWN, with a redacted hint
            self._tell_breaker(False, admission)
            wrapped = ConnectorError(
                ErrorCode.UNKNOWN, self.redact(f"{type(error).__name__}: {error}")[:300]
            )
            raise fail(wrapped, "failed", state.attempts, admission.state) from error
        finally:
            _call_state.reset(token)
        self._tell_breaker(True, admission)
        latency = (time.perf_counter() - started) * 1000
        output_hash = content_hash(result.model_dump(mode="json", exclude={"meta"}))
        meta = CallMeta(
            kind=self.kind,
            instance=self.instance,
            operation=operation,
            request_id=context.request_id,
            job_id=context.job_id,
            input_hash=input_hash,
            output_hash=output_hash,
            latency_ms=round(latency, 1),
            attempts=state.attempts,
            breaker_state="half_open_probe" if admission.probe else admission.state,
        )
        result = result.model_copy(update={"meta": meta})
        self._log(
            operation, "ok", context, input_hash, output_hash, latency, state.attempts, None, ""
        )
        if write:
            self._record(
                CallRecord(
                    kind=self.kind,
                    instance=self.instance,
                    operation=operation,
                    outcome="written",
                    request_id=context.request_id,
                    job_id=context.job_id,
                    input_hash=input_hash,
                    output_hash=output_hash,
                    error_code="",
                    latency_ms=round(latency, 1),
                    attempts=state.attempts,
                    detail={"input": payload},
                ),
                must=False,
            )
        return result

    def _tell_breaker(self, ok: bool, admission: Admission) -> None:
        if self.breaker is None:
            return
        if ok:
            self.breaker.record_success()
        else:
            self.breaker.record_failure(probe=admission.probe)

    def _record(self, call: CallRecord, *, must: bool) -> None:
        try:
            self.recorder.record(call)
        except Exception as error:
            log.error(
                "connector.call.unrecorded",
                kind=self.kind,
                instance=self.instance,
                operation=call.operation,
                error=f"{type(error).__name__}: {error}"[:300],
            )
            if must:
                raise ConnectorError(
                    ErrorCode.UNKNOWN, "the write intent could not be recorded, so it was not sent"
                ) from error

    def _log(
        self,
        operation: str,
        outcome: str,
        context: CallContext,
        input_hash: str,
        output_hash: str,
        latency_ms: float,
        attempts: int,
        code: ErrorCode | None,
        message: str,
    ) -> None:
        fields: dict[str, Any] = {
            "kind": self.kind,
            "instance": self.instance,
            "operation": operation,
            "outcome": outcome,
            "input_hash": input_hash,
            "output_hash": output_hash,
            "latency_ms": round(latency_ms, 1),
            "attempts": attempts,
        }
        # Explicit ids win over (and fill in for) what the context bound.
        if context.request_id:
            fields["request_id"] = context.request_id
        if context.job_id:
            fields["job_id"] = context.job_id
        if code is not None:
            log.warning(
                "connector.call", error_code=str(code), error=self.redact(message), **fields
            )
        else:
            log.info("connector.call", **fields)


def intent_name(payload: Mapping[str, Any]) -> str:
    return f"{payload.get('operation', 'a write')!s} on {payload.get('target', '?')!s}"


def run_in_context[R](fn: Callable[..., R], *args: Any) -> Callable[[], R]:
    """``fn(*args)`` bound to a copy of the current context, for worker threads: the
    request id, the call's attempt counter and the probe flag travel with it."""
    ctx = contextvars.copy_context()
    return lambda: ctx.run(fn, *args)
