"""The connector poll and check jobs, and the connectors' lines in /readyz."""

from __future__ import annotations

import pytest
from django.test import Client

from brain.models import JobRun
from brain.tasks_connectors import check_connector, connector_readiness, poll_studio_connectors
from connectors.models import ConnectorHealth, DeviceReading
from connectors.runtime import redis_client
from connectors.services import PENDING_CHECK_PREFIX, connector_check_mark_pending
from tests.factories import ConnectorConfigFactory
from tests.peers.hubitat_peer import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(studio, hubitat_peer, monkeypatch):
    monkeypatch.setenv("TEST_HUBITAT_TOKEN", hubitat_peer.token)
    config = ConnectorConfigFactory(
        studio=studio,
        kind="hubitat",
        name="hub1",
        settings={"host": hubitat_peer.url, "app_id": 12},
        secret_env={"token": "TEST_HUBITAT_TOKEN"},
    )
    yield config
    redis_client().delete(f"brain:breaker:{config.instance_id}")


@pytest.fixture
def dead_hub(studio, monkeypatch):
    monkeypatch.setenv("TEST_DEAD_HUB_TOKEN", "whatever")
    config = ConnectorConfigFactory(
        studio=studio,
        kind="hubitat",
        name="hub-dead",
        settings={"host": f"http://127.0.0.1:{free_port()}", "app_id": 12, "retry_attempts": 1},
        secret_env={"token": "TEST_DEAD_HUB_TOKEN"},
    )
    yield config
    redis_client().delete(f"brain:breaker:{config.instance_id}")


def test_poll_records_a_job_run_a_health_sample_and_device_readings(hub):
    poll_studio_connectors.apply(args=[hub.studio_id], task_id="poll-task-0001")
    run = JobRun.objects.get(name="connectors.poll")
    assert (run.status, run.job_id, run.studio_id) == ("succeeded", "poll-task-0001", hub.studio_id)
    assert run.summary["connectors"]["hub1"]["availability"] == "healthy"
    sample = ConnectorHealth.objects.get()
    assert (sample.availability, sample.job_id, sample.devices_total) == (
        "healthy",
        "poll-task-0001",
        6,
    )
    assert DeviceReading.objects.filter(config=hub).count() == 6


def test_an_unreachable_host_is_a_down_sample_not_a_failed_job(dead_hub):
    poll_studio_connectors.apply(args=[dead_hub.studio_id])
    assert JobRun.objects.get().status == "succeeded"
    sample = ConnectorHealth.objects.get()
    assert (sample.availability, sample.error_code) == ("down", "UNAVAILABLE")


def test_disabled_connectors_are_not_polled(hub):
    hub.enabled = False
    hub.save()
    poll_studio_connectors.apply(args=[hub.studio_id])
    assert not ConnectorHealth.objects.exists()


def test_check_now_runs_one_connector_and_clears_its_pending_flag(hub):
    connector_check_mark_pending(config=hub)
    check_connector.apply(args=[hub.pk])
    assert JobRun.objects.get().name == "connectors.check"
    assert ConnectorHealth.objects.get().availability == "healthy"
    assert redis_client().get(f"{PENDING_CHECK_PREFIX}{hub.pk}") is None


def test_readiness_lists_each_connector_without_making_it_required(hub, dead_hub):
    poll_studio_connectors.apply(args=[hub.studio_id])
    lines = {r.name: r for r in connector_readiness()}
    healthy, down = lines["connector:north-kiln/hub1"], lines["connector:north-kiln/hub-dead"]
    assert (healthy.status, healthy.required) == ("ok", False)
    assert (down.status, down.required) == ("fail", False)
    assert down.detail.startswith("UNAVAILABLE")


def test_readyz_shows_connectors(hub, monkeypatch):
    from brain import health

    monkeypatch.setattr(
        health, "check_worker", lambda: health.CheckResult("celery_worker", "ok", True, "stub")
    )
    response = Client().get("/readyz")
    names = [c["name"] for c in response.json()["checks"]]
    assert "connector:north-kiln/hub1" in names
    line = next(c for c in response.json()["checks"] if c["name"] == "connector:north-kiln/hub1")
    assert (line["status"], line["detail"]) == ("warn", "not checked yet")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_polls_connectors_through_the_reads_queue(hub):
    from celery.contrib.testing.worker import start_worker

    from studio_brain.celery import app

    # No queues=: start_worker would narrow the app's queue selection for every later test.
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        result = poll_studio_connectors.apply_async(args=[hub.studio_id], queue="reads")
        for _ in range(100):
            if ConnectorHealth.objects.filter(config=hub).exists():
                break
            import time

            time.sleep(0.1)
    assert ConnectorHealth.objects.get(config=hub).availability == "healthy"
    assert JobRun.objects.get(name="connectors.poll").job_id == result.id
