"""Structured JSON logs: the fields every line carries, request ids, and redaction of
secrets and personal data, asserted on the real output of the configured formatter."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import structlog
from django.conf import settings
from django.test import override_settings

from brain.config import replace
from brain.jobs import run_job
from brain.logs import REDACTED

log = structlog.stdlib.get_logger("brain.tests")

WELL_FORMED_IDS = ["req-2026-11-27.kiln:42", "0123456789abcdef", "a" * 128]
MALFORMED_IDS = [
    "short",
    "has spaces in it",
    "line\nbreak-injected",
    "x" * 200,
    "<script>alert(1)</script>",
]


# --- the shape of a line ------------------------------------------------------------------


def test_every_line_is_json_with_timestamp_level_event_and_component(json_logs):
    log.info("kiln.checked", kiln="k1")
    logging.getLogger("django.request").warning("a stdlib line")

    lines = json_logs.lines()
    mine = json_logs.events("kiln.checked")[0]
    assert mine["level"] == "info"
    assert mine["component"] == "brain"
    assert mine["kiln"] == "k1"
    assert mine["timestamp"].endswith("Z")
    foreign = json_logs.events("a stdlib line")[0]
    assert foreign["level"] == "warning"
    assert foreign["component"] == "django"
    assert all({"timestamp", "level", "event", "component"} <= set(line) for line in lines)


def test_a_line_outside_any_request_or_job_has_no_ids(json_logs):
    log.info("idle.line")

    line = json_logs.events("idle.line")[0]
    assert "request_id" not in line
    assert "job_id" not in line


def test_a_job_line_carries_the_job_id(json_logs, db):
    run = run_job("log_shape", lambda run: {"ok": True}, job_id="job-shape-0001")

    begin = json_logs.events("job.log_shape.begin")[0]
    assert begin["job_id"] == "job-shape-0001" == run.job_id
    assert begin["component"] == "brain"


def test_a_job_does_not_leave_its_ids_bound_to_the_caller(json_logs, db):
    run_job("log_scope", lambda run: None)
    log.info("after.job")

    assert "job_id" not in json_logs.events("after.job")[0]


# --- request ids --------------------------------------------------------------------------


@pytest.mark.parametrize("inbound", WELL_FORMED_IDS)
def test_a_well_formed_request_id_is_echoed(client, inbound):
    response = client.get("/healthz", headers={"X-Request-ID": inbound})

    assert response["X-Request-ID"] == inbound


@pytest.mark.parametrize("inbound", MALFORMED_IDS)
def test_a_malformed_request_id_is_replaced_by_a_fresh_one(client, inbound):
    response = client.get("/healthz", headers={"X-Request-ID": inbound})

    echoed = response["X-Request-ID"]
    assert echoed != inbound
    assert uuid.UUID(hex=echoed)


def test_a_request_without_an_id_gets_a_fresh_one_each_time(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert first != second
    assert uuid.UUID(hex=first) and uuid.UUID(hex=second)


def test_the_request_id_is_on_the_log_line_of_that_request(client, json_logs, db):
    response = client.get("/no-such-page", headers={"X-Request-ID": "req-lookup-000123"})

    assert response.status_code == 404
    line = json_logs.events("Not Found: /no-such-page")[0]
    assert line["request_id"] == "req-lookup-000123"
    assert line["level"] == "warning"


def test_a_replaced_request_id_is_the_one_logged_and_echoed(client, json_logs, db):
    response = client.get("/no-such-page", headers={"X-Request-ID": "<script>x</script>"})

    line = json_logs.events("Not Found: /no-such-page")[0]
    assert line["request_id"] == response["X-Request-ID"]
    assert "<script>" not in json_logs.text()


def test_the_request_id_does_not_leak_past_the_request(client, json_logs, db):
    client.get("/no-such-page", headers={"X-Request-ID": "req-leak-check-01"})
    log.info("after.request")

    assert "request_id" not in json_logs.events("after.request")[0]


def test_a_job_run_inside_a_request_context_records_and_logs_the_request_id(json_logs, db):
    with structlog.contextvars.bound_contextvars(request_id="req-parent-000777"):
        run = run_job("inline_probe", lambda run: None)

    assert run.request_id == "req-parent-000777"
    success = json_logs.events("job.inline_probe.success")[0]
    assert success["request_id"] == "req-parent-000777"
    assert success["job_id"] == run.job_id


# --- redaction ----------------------------------------------------------------------------


@pytest.fixture
def configured_secrets():
    """Secrets configured for the runtime, as an operator would set them."""
    values = {
        "stripe_api_key": "rk_live_configuredStripe0099",
        "metrics_token": "metrics-token-configured-0099",
        "audit_signing_key": "audit-signing-configured-0099",
    }
    with override_settings(BRAIN=replace(settings.BRAIN, **values)):
        yield values


def test_configured_secret_values_never_reach_the_output(json_logs, configured_secrets):
    log.info(
        "connector.called",
        note=f"used {configured_secrets['metrics_token']} for the scrape",
        nested={"detail": [f"key {configured_secrets['audit_signing_key']}"]},
    )
    log.info(f"header was {configured_secrets['stripe_api_key']}")

    text = json_logs.text()
    for secret in configured_secrets.values():
        assert secret not in text
    assert json_logs.events("connector.called")[0]["note"] == f"used {REDACTED} for the scrape"
    assert json_logs.events("connector.called")[0]["nested"] == {"detail": [f"key {REDACTED}"]}


def test_a_changed_secret_is_redacted_without_a_restart_of_the_test_process(json_logs):
    with override_settings(BRAIN=replace(settings.BRAIN, metrics_token="rotated-token-abcdef-01")):
        log.info("rotated", note="rotated-token-abcdef-01")

    assert "rotated-token-abcdef-01" not in json_logs.text()


def test_emails_are_removed(json_logs):
    log.info("member.emailed", to="potter.jane@studio.example", note="cc ops+kiln@north-kiln.co.uk")

    line = json_logs.events("member.emailed")[0]
    assert line["to"] == "[email]"
    assert line["note"] == "cc [email]"
    assert "@" not in json.dumps(line)


def test_access_tokens_in_urls_are_removed(json_logs):
    url = "http://hubitat.local/apps/api/7/devices/all?access_token=abcd-1234-efgh&x=1"
    log.info("hubitat.read", url=url)
    logging.getLogger("connectors.hubitat").info("GET %s", url)

    assert "abcd-1234-efgh" not in json_logs.text()
    redacted_url = f"http://hubitat.local/apps/api/7/devices/all?access_token={REDACTED}&x=1"
    assert json_logs.events("hubitat.read")[0]["url"] == redacted_url
    assert json_logs.events(f"GET {redacted_url}")[0]["component"] == "connectors"


def test_bearer_tokens_are_removed(json_logs):
    log.info("agent.call", header="Authorization: Bearer eyJhbGciOi.payload.sig-_x")

    line = json_logs.events("agent.call")[0]
    assert line["header"] == f"Authorization: Bearer {REDACTED}"


def test_stripe_keys_are_removed_wherever_they_appear(json_logs):
    log.info("stripe.client", note="client built with sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    logging.getLogger("stripe").warning("retrying with rk_live_51Habcdefghijk")

    text = json_logs.text()
    assert "sk_test_4eC39HqLyjWDarjtT1zdp7dc" not in text
    assert "rk_live_51Habcdefghijk" not in text


@pytest.mark.parametrize(
    "key",
    ["password", "token", "secret", "api_key", "client_secret", "Authorization", "signing_key"],
)
def test_values_under_secret_keys_are_removed_whatever_they_look_like(json_logs, key):
    log.info("login.attempt", **{key: "plain-looking-value-42"})

    line = json_logs.events("login.attempt")[0]
    assert line[key] == REDACTED
    assert "plain-looking-value-42" not in json_logs.text()


def test_secret_keys_inside_nested_data_are_removed(json_logs):
    log.info(
        "connector.config", config={"host": "hub.local", "auth": {"password": "nested-pass-77"}}
    )

    line = json_logs.events("connector.config")[0]
    assert line["config"] == {"host": "hub.local", "auth": {"password": REDACTED}}


def test_database_url_passwords_are_removed(json_logs):
    log.info("db.connect", dsn="postgres://brain:hunter2-url-pass@db.internal:5432/brain")

    assert (
        json_logs.events("db.connect")[0]["dsn"]
        == f"postgres://brain:{REDACTED}@db.internal:5432/brain"
    )


def test_exception_text_is_redacted_too(json_logs):
    try:
        raise RuntimeError("could not reach https://api.example/v1?token=tok-in-exception-5&a=b")
    except RuntimeError:
        log.exception("connector.failed")

    line = json_logs.events("connector.failed")[0]
    assert "tok-in-exception-5" not in json_logs.text()
    assert "RuntimeError" in line["exception"]


def test_ordinary_fields_pass_through_untouched(json_logs):
    log.info("snapshot.captured", studio="north-kiln", batches_active=31, session_idle_timeout=1800)

    line = json_logs.events("snapshot.captured")[0]
    assert line["studio"] == "north-kiln"
    assert line["batches_active"] == 31
    assert line["session_idle_timeout"] == 1800


def test_logs_go_to_stderr_so_stdout_carries_only_results():
    import sys

    assert settings.LOGGING["handlers"] == {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    }
    assert settings.LOGGING["root"]["handlers"] == ["stderr"]
    streams = [getattr(h, "stream", None) for h in logging.getLogger().handlers]
    assert sys.stdout not in streams and sys.__stdout__ not in streams
