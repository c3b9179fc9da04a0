"""The SDK's pipeline, breaker, retry and redaction, against the Hubitat peer and real Redis."""

from __future__ import annotations

import logging
import threading

import pytest
import structlog

from connectors.hubitat.connector import HubitatConnector
from connectors.hubitat.schemas import HubitatSettings
from connectors.models import ConnectorCall
from connectors.sdk.base import CallContext, MemoryRecorder
from connectors.sdk.breaker import BreakerPolicy
from connectors.sdk.errors import CircuitOpenError, ConnectorError, ErrorCode
from connectors.sdk.redaction import QueryTokenFilter, redact
from connectors.sdk.schemas import WriteIntent, clamp_battery
from tests.factories import ConnectorConfigFactory

FAST = {
    "timeout": 0.5,
    "retry_attempts": 3,
    "retry_wait_initial": 0.01,
    "retry_wait_max": 0.05,
    "retry_jitter": 0.0,
    "total_timeout": 5,
}


def hubitat(peer, *, token=None, recorder=None, breaker=None, read_only=True, **settings):
    typed = HubitatSettings.model_validate(
        {"host": peer.url, "app_id": peer.app_id, **FAST, **settings}
    )
    return HubitatConnector(
        instance="sdk-test",
        settings=typed,
        secrets={"token": token or peer.token},
        recorder=recorder,
        breaker=breaker,
        read_only=read_only,
    )


def test_transient_errors_are_retried_with_backoff_until_attempts_run_out(hubitat_peer):
    hubitat_peer.inject(status=503)
    with pytest.raises(ConnectorError) as caught:
        hubitat(hubitat_peer).health()
    assert caught.value.code == ErrorCode.UNAVAILABLE
    assert hubitat_peer.stats.requests == 3


def test_permanent_errors_are_not_retried(hubitat_peer):
    with pytest.raises(ConnectorError) as caught:
        hubitat(hubitat_peer, token="not-the-token").health()
    assert caught.value.code == ErrorCode.AUTH
    assert hubitat_peer.stats.requests == 1


def test_a_transient_blip_heals_within_the_retries(hubitat_peer):
    hubitat_peer.inject(status=500, remaining=2)
    report = hubitat(hubitat_peer).health()
    assert report.meta.attempts == 3
    assert report.availability == "healthy"


def test_rate_limiting_maps_to_rate_limited_and_honours_retry_after(hubitat_peer):
    hubitat_peer.inject(status=429, retry_after="0.01")
    with pytest.raises(ConnectorError) as caught:
        hubitat(hubitat_peer).health()
    assert caught.value.code == ErrorCode.RATE_LIMITED
    assert caught.value.transient
    assert hubitat_peer.stats.requests == 3


def test_calls_carry_the_request_and_job_id_bound_in_the_structlog_context(hubitat_peer):
    structlog.contextvars.bind_contextvars(request_id="req-from-the-web-0001", job_id="job-0001")
    try:
        report = hubitat(hubitat_peer).health()
    finally:
        structlog.contextvars.clear_contextvars()
    assert (report.meta.request_id, report.meta.job_id) == ("req-from-the-web-0001", "job-0001")


def test_an_explicit_context_wins_over_the_bound_one(hubitat_peer):
    structlog.contextvars.bind_contextvars(request_id="bound-request-0001")
    try:
        report = hubitat(hubitat_peer).health(CallContext(request_id="explicit-request-0001"))
    finally:
        structlog.contextvars.clear_contextvars()
    assert report.meta.request_id == "explicit-request-0001"


def test_garbage_is_bad_response_keeping_200_redacted_bytes(hubitat_peer):
    garbage = b"<html>" + f"token={hubitat_peer.token} ".encode() + b"x" * 400
    hubitat_peer.inject(garbage=garbage)
    recorder = MemoryRecorder()
    with pytest.raises(ConnectorError) as caught:
        hubitat(hubitat_peer, recorder=recorder).health()
    error = caught.value
    assert error.code == ErrorCode.BAD_RESPONSE
    assert error.diagnostic.startswith("<html>token=[redacted] xxx")
    # The first 200 bytes the hub sent, then redacted (so a little shorter than 200).
    assert error.diagnostic == redact(garbage[:200].decode(), [hubitat_peer.token])
    assert hubitat_peer.token not in error.diagnostic
    assert hubitat_peer.token not in str(recorder.calls[0].detail)


@pytest.mark.django_db
def test_failed_calls_and_refused_writes_become_connector_call_rows(hubitat_peer, studio):
    from connectors.runtime import DatabaseCallRecorder

    config = ConnectorConfigFactory(
        studio=studio,
        kind="hubitat",
        name="hub1",
        settings={"host": hubitat_peer.url, "app_id": 12},
    )
    recorder = DatabaseCallRecorder(config)
    connector = hubitat(hubitat_peer, recorder=recorder)
    intent = WriteIntent(
        operation="device.command",
        target="100",
        params={"command": "off"},
        idempotency_key="write-test-0001",
    )
    with pytest.raises(ConnectorError) as caught:
        connector.execute(intent, CallContext(request_id="req-write-0001", job_id="job-write-0001"))
    assert caught.value.code == ErrorCode.READ_ONLY_VIOLATION
    assert hubitat_peer.stats.requests == 0
    hubitat_peer.inject(status=500)
    with pytest.raises(ConnectorError):
        connector.health(CallContext(request_id="req-health-0001"))
    rows = list(
        ConnectorCall.objects.order_by("created_at").values(
            "operation", "outcome", "error_code", "request_id", "job_id", "studio_id", "attempts"
        )
    )
    assert rows == [
        {
            "operation": "execute",
            "outcome": "refused",
            "error_code": "READ_ONLY_VIOLATION",
            "request_id": "req-write-0001",
            "job_id": "job-write-0001",
            "studio_id": studio.pk,
            "attempts": 0,
        },
        {
            "operation": "health",
            "outcome": "failed",
            "error_code": "UNAVAILABLE",
            "request_id": "req-health-0001",
            "job_id": "",
            "studio_id": studio.pk,
            "attempts": 3,
        },
    ]
    assert all(r.input_hash.startswith("sha256:") for r in ConnectorCall.objects.all())


def test_write_pilot_records_the_intent_before_sending_and_the_result_after(hubitat_peer):
    recorder = MemoryRecorder()
    connector = hubitat(
        hubitat_peer, recorder=recorder, read_only=False, command_allowlist={"103": ["on"]}
    )
    outcome = connector.execute(
        WriteIntent(
            operation="device.command",
            target="103",
            params={"command": "on"},
            idempotency_key="write-test-0002",
        )
    )
    assert outcome.accepted
    assert hubitat_peer.stats.writes == 1
    assert [c.outcome for c in recorder.calls] == ["intent", "written"]


def test_a_write_that_cannot_be_recorded_is_not_sent(hubitat_peer):
    class BrokenRecorder:
        def record(self, call):
            raise RuntimeError("audit store unreachable")

    connector = hubitat(hubitat_peer, recorder=BrokenRecorder(), read_only=False)
    with pytest.raises(ConnectorError, match="could not be recorded"):
        connector.execute(
            WriteIntent(
                operation="device.command",
                target="103",
                params={"command": "on"},
                idempotency_key="write-test-0003",
            )
        )
    assert hubitat_peer.stats.requests == 0


def test_breaker_half_open_lets_exactly_one_probe_through_across_threads(breaker_factory):
    breaker = breaker_factory(policy=BreakerPolicy(initial_backoff=0.05, max_backoff=1.0))
    for _ in range(3):
        breaker.record_failure()
    assert breaker.snapshot().state == "open"
    assert not breaker.admit().allowed
    threading.Event().wait(0.08)
    admissions = []
    barrier = threading.Barrier(8)

    def contend():
        barrier.wait()
        admissions.append(breaker.admit())

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(a.probe for a in admissions) == 1
    assert sum(a.allowed for a in admissions) == 1


def test_breaker_backoff_doubles_on_failed_probes_up_to_the_ceiling(breaker_factory):
    breaker = breaker_factory(
        policy=BreakerPolicy(initial_backoff=1.0, max_backoff=30.0, probe_ttl=0.001)
    )
    for _ in range(3):
        breaker.record_failure()
    backoffs = [breaker.snapshot().backoff]
    for _ in range(6):
        breaker.client.hset(breaker.key, "open_until", 0)  # the open period is over
        assert breaker.admit().probe
        breaker.record_failure(probe=True)
        backoffs.append(breaker.snapshot().backoff)
    assert backoffs == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_late_failure_of_a_call_admitted_before_opening_does_not_extend_the_backoff(
    breaker_factory,
):
    breaker = breaker_factory(policy=BreakerPolicy(initial_backoff=1.0))
    for _ in range(3):
        breaker.record_failure()
    breaker.record_failure()  # an in-flight call failing late
    assert breaker.snapshot().backoff == 1.0


def test_an_open_breaker_refuses_without_io_and_says_when_it_will_probe(
    hubitat_peer, breaker_factory
):
    breaker = breaker_factory(policy=BreakerPolicy(initial_backoff=5.0))
    for _ in range(3):
        breaker.record_failure()
    with pytest.raises(CircuitOpenError) as caught:
        hubitat(hubitat_peer, breaker=breaker).health()
    assert caught.value.code == ErrorCode.UNAVAILABLE
    assert 0 < caught.value.retry_in <= 5.0
    assert hubitat_peer.stats.requests == 0


def test_httpx_request_logs_never_show_the_token(hubitat_peer, caplog):
    caplog.set_level(logging.INFO, logger="httpx")
    hubitat(hubitat_peer).health()
    messages = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert messages and all("access_token=[redacted]" in m for m in messages)
    assert not any(hubitat_peer.token in m for m in messages)


def test_query_token_filter_rewrites_a_record_that_carries_a_token():
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "GET %s", ("http://hub/x?access_token=abc123",), None
    )
    QueryTokenFilter().filter(record)
    assert record.getMessage() == "GET http://hub/x?access_token=[redacted]"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("87", 87),
        (140, 100),
        (-5, 0),
        ("99.6", 100),
        (None, None),
        ("n/a", None),
        (True, None),
        (float("nan"), None),
    ],
)
def test_battery_is_clamped_to_0_100(raw, expected):
    assert clamp_battery(raw) == expected


def test_redact_removes_known_secrets_and_query_tokens():
    assert redact("GET /x?access_token=s3cr3t&y=1 and s3cr3t", ["s3cr3t"]) == (
        "GET /x?access_token=[redacted]&y=1 and [redacted]"
    )
