"""Liveness, readiness against the real Postgres, Redis and a real Celery worker, and metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import override_settings

from brain import health
from brain.config import replace

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def failing(body: dict) -> set[str]:
    return {check["name"] for check in body["checks"] if check["status"] == "fail"}


@pytest.fixture
def quick_worker_timeout() -> Iterator[None]:
    # The shortest wait the contract allows, so "no worker" answers within a second.
    with override_settings(
        BRAIN=replace(settings.BRAIN, readyz_worker_timeout=timedelta(seconds=1))
    ):
        yield


@pytest.fixture
def unreachable_database(monkeypatch) -> Iterator[None]:
    """Point the readiness check at a real Postgres connection to a closed port (127.0.0.1:1)."""
    default = connections[DEFAULT_DB_ALIAS]
    settings_dict = {**default.settings_dict, "HOST": "127.0.0.1", "PORT": "1"}
    refused = type(default)(settings_dict, alias="readyz-unreachable")
    monkeypatch.setattr(health, "connection", refused)
    try:
        yield
    finally:
        refused.close()


# --- /healthz -----------------------------------------------------------------------------


def test_healthz_answers_without_touching_the_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_even_when_the_database_is_unreachable(client, unreachable_database):
    assert client.get("/healthz").status_code == 200


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


# --- /readyz ------------------------------------------------------------------------------


@pytest.mark.worker
def test_readyz_is_200_when_database_redis_and_a_worker_answer(celery_worker, client, db):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    by_name = {check["name"]: check for check in body["checks"]}
    assert {"database", "redis", "celery_worker"} <= set(by_name)
    for name in ("database", "redis", "celery_worker"):
        assert by_name[name]["status"] == "ok"
        assert by_name[name]["required"] is True
        assert by_name[name]["latency_ms"] >= 0
    assert celery_worker.hostname in by_name["celery_worker"]["detail"]


@pytest.mark.worker
def test_readyz_is_503_naming_the_database_when_it_refuses_connections(
    celery_worker, client, db, unreachable_database, json_logs
):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "not_ready"
    assert failing(body) == {"database"}
    database = next(check for check in body["checks"] if check["name"] == "database")
    assert database["detail"].startswith("OperationalError")
    assert json_logs.events("readiness.failed")[0]["failing"] == ["database"]


def test_readyz_is_503_naming_redis_when_it_refuses_connections(client, db):
    with override_settings(REDIS_URL=UNREACHABLE_REDIS):
        response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 503
    by_name = {check["name"]: check for check in body["checks"]}
    assert by_name["redis"]["status"] == "fail"
    assert "ConnectionError" in by_name["redis"]["detail"]
    assert by_name["database"]["status"] == "ok"
    # Redis is the broker, so the worker is not pinged through it.
    assert by_name["celery_worker"]["status"] == "fail"
    assert by_name["celery_worker"]["detail"] == "not asked: Redis, the broker, is unreachable"


def test_readyz_is_503_naming_the_worker_when_none_replies(client, db, quick_worker_timeout):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 503
    assert failing(body) == {"celery_worker"}
    worker = next(check for check in body["checks"] if check["name"] == "celery_worker")
    assert worker["detail"] == "no Celery worker replied within 1 s"


def test_a_registered_readiness_check_is_reported_and_can_fail_readiness(
    client, db, quick_worker_timeout, monkeypatch
):
    monkeypatch.setattr(health, "EXTRA_CHECKS", [])

    @health.register_readiness_check
    def snapshot_age() -> list[health.CheckResult]:
        return [health.CheckResult("snapshot_age", "fail", True, "latest snapshot is 9 h old")]

    @health.register_readiness_check
    def broken() -> list[health.CheckResult]:
        raise RuntimeError("connector registry not loaded")

    body = client.get("/readyz").json()

    assert {"snapshot_age", "broken"} <= failing(body)
    broken_check = next(check for check in body["checks"] if check["name"] == "broken")
    assert broken_check["detail"] == "connector registry not loaded"


# --- /metrics -----------------------------------------------------------------------------


def test_metrics_are_served_as_prometheus_text_to_loopback(client):
    client.get("/healthz")

    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert "# TYPE brain_http_requests_total counter" in text
    assert 'brain_http_requests_total{method="GET",route="healthz",status="200"}' in text


def test_metrics_are_served_to_ipv6_loopback(client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_are_refused_as_json_to_another_address(client):
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.10")

    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert b"brain_http_requests_total" not in response.content


def test_metrics_are_refused_to_loopback_behind_a_forwarding_proxy(client):
    response = client.get(
        "/metrics", REMOTE_ADDR="127.0.0.1", headers={"X-Forwarded-For": "192.0.2.10"}
    )

    assert response.status_code == 403


@pytest.fixture
def metrics_token() -> Iterator[str]:
    token = "metrics-scrape-token-0123456789"
    with override_settings(BRAIN=replace(settings.BRAIN, metrics_token=token)):
        yield token


def test_metrics_are_served_to_another_address_with_the_right_token(client, metrics_token):
    response = client.get(
        "/metrics", REMOTE_ADDR="192.0.2.10", headers={"Authorization": f"Bearer {metrics_token}"}
    )

    assert response.status_code == 200
    assert b"brain_http_requests_total" in response.content


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong-token-0123456789", "Bearer ", "", "metrics-scrape-token-012345678"],
)
def test_metrics_are_refused_with_a_wrong_token(client, metrics_token, authorization):
    response = client.get(
        "/metrics", REMOTE_ADDR="192.0.2.10", headers={"Authorization": authorization}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_without_a_configured_token_no_bearer_opens_metrics(client):
    response = client.get(
        "/metrics", REMOTE_ADDR="192.0.2.10", headers={"Authorization": "Bearer "}
    )

    assert response.status_code == 403
