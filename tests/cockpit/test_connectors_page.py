"""Cockpit → Connectors: states, permissions, isolation, HTMX fragment, check now, query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from connectors.models import ConnectorConfig, ConnectorHealth
from connectors.runtime import redis_client
from studio_brain.celery import app as celery_app
from tests.brain.test_task_routes import routed_queue
from tests.factories import ConnectorConfigFactory, ConnectorHealthFactory, DeviceReadingFactory

pytestmark = pytest.mark.django_db


def page(studio="north-kiln"):
    return reverse("cockpit:connectors", args=[studio])


def make_connector(
    studio, name, *, availability="healthy", devices=2, samples=5, error_code="", message=""
):
    config = ConnectorConfigFactory(
        studio=studio,
        kind="hubitat",
        name=name,
        settings={"host": "http://127.0.0.1:9", "app_id": 1},
        secret_env={"token": "PAGE_TEST_TOKEN"},
    )
    now = timezone.now()
    for index in range(samples):
        ConnectorHealthFactory(
            config=config,
            checked_at=now - timedelta(minutes=index),
            availability=availability,
            latency_ms=20 + index * 7,
            error_code=error_code,
            error_message=message,
            devices_total=devices,
            devices_reachable=devices if availability != "down" else 0,
        )
    for index in range(devices):
        DeviceReadingFactory(
            config=config,
            device_id=f"{name}-{index}",
            label=f"{name} device {index}",
            device_type="Switch",
            online=index % 2 == 0,
            battery=50 + index,
            attributes={"switch": "on" if index % 2 == 0 else "off"},
            read_at=now,
            last_seen=now,
            last_activity=now - timedelta(minutes=5),
        )
    return config


def test_anonymous_visitors_are_sent_to_login(client, staff):
    response = client.get(page())
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_member_of_another_studio_gets_404(staff, login):
    assert login(staff.outsider).get(page()).status_code == 404


def test_wrong_method_is_refused(staff, login):
    assert login(staff.viewer).post(page()).status_code == 405
    make_connector(staff.studio, "hub1")
    check = reverse("cockpit:connector_check", args=["north-kiln", "hub1"])
    assert login(staff.operator).get(check).status_code == 405


def test_empty_state_explains_how_to_add_a_connector(staff, login):
    html = login(staff.viewer).get(page()).content.decode()
    assert "No connectors configured" in html
    assert "manage.py connector add --studio north-kiln --kind hubitat" in html


def test_healthy_connector_shows_breaker_sparkline_and_devices(staff, login):
    make_connector(staff.studio, "hub1")
    html = login(staff.viewer).get(page()).content.decode()
    assert 'class="status status-healthy">healthy' in html
    assert "<polyline points=" in html
    assert "hub1 device 0" in html and "hub1 device 1" in html
    assert "Degraded:" not in html
    assert "Check now" not in html  # viewers cannot trigger checks
    assert 'style="' not in html  # strict CSP: no inline styles


def test_a_down_connector_raises_the_degraded_banner_and_says_why_in_words(staff, login):
    make_connector(staff.studio, "hub1")
    make_connector(
        staff.studio,
        "hub2",
        availability="down",
        error_code="UNAVAILABLE",
        message="GET /devices: cannot connect (ConnectError)",
    )
    html = login(staff.viewer).get(page()).content.decode()
    assert "Degraded:" in html and "1 connector down (hub2)" in html
    assert "The device could not be reached or reported a server error." in html


def test_another_studios_connectors_are_not_shown(staff, login):
    make_connector(staff.other_studio, "their-hub")
    html = login(staff.viewer).get(page()).content.decode()
    assert "their-hub" not in html


def test_htmx_refresh_returns_the_polling_fragment_that_pauses_in_hidden_tabs(staff, login):
    make_connector(staff.studio, "hub1")
    response = login(staff.viewer).get(page(), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="connector-list"')
    assert 'hx-trigger="every 15s"' in html and "data-poll" in html
    assert "<html" not in html


def test_page_query_count_does_not_grow_with_connectors_or_devices(
    staff, login, django_assert_num_queries
):
    viewer = login(staff.viewer)
    make_connector(staff.studio, "hub1", devices=1, samples=2)
    viewer.get(page())
    with CaptureQueriesContext(connection) as few:
        viewer.get(page())
    for index in range(2, 6):
        make_connector(staff.studio, f"hub{index}", devices=12, samples=40)
    with django_assert_num_queries(len(few.captured_queries)):
        viewer.get(page())


def test_viewers_cannot_check_now(staff, login):
    make_connector(staff.studio, "hub1")
    check = reverse("cockpit:connector_check", args=["north-kiln", "hub1"])
    assert login(staff.viewer).post(check).status_code == 403


def test_operator_check_now_queues_a_task_and_the_page_shows_progress(staff, login, monkeypatch):
    make_connector(staff.studio, "hub1")
    sent = []
    monkeypatch.setattr(
        "brain.tasks_connectors.check_connector.apply_async",
        lambda args: sent.append((args, routed_queue("brain.tasks_connectors.check_connector"))),
    )
    check = reverse("cockpit:connector_check", args=["north-kiln", "hub1"])
    response = login(staff.operator).post(check, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert sent == [((ConnectorConfig.objects.get().pk,), "reads")]
    assert "Check queued" in response.content.decode()


def test_check_now_runs_the_check_as_a_celery_task_against_the_peer(
    staff, login, hubitat_peer, monkeypatch
):
    monkeypatch.setenv("PAGE_TEST_TOKEN", hubitat_peer.token)
    celery_app.conf.task_always_eager = True
    request_cleanup = lambda: setattr(celery_app.conf, "task_always_eager", False)  # noqa: E731
    config = ConnectorConfigFactory(
        studio=staff.studio,
        kind="hubitat",
        name="hub1",
        settings={"host": hubitat_peer.url, "app_id": 12},
        secret_env={"token": "PAGE_TEST_TOKEN"},
    )
    check = reverse("cockpit:connector_check", args=["north-kiln", "hub1"])
    try:
        response = login(staff.operator).post(check)
    finally:
        request_cleanup()
    assert response.status_code == 302
    assert ConnectorHealth.objects.get(config=config).availability == "healthy"
    html = login(staff.operator).get(page()).content.decode()
    assert "Studio device 1" in html and "Check queued" not in html
    redis_client().delete(f"brain:breaker:{config.instance_id}")


def test_check_now_with_the_queue_down_says_so_instead_of_failing(staff, login, monkeypatch):
    make_connector(staff.studio, "hub1")

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("brain.tasks_connectors.check_connector.apply_async", broker_down)
    check = reverse("cockpit:connector_check", args=["north-kiln", "hub1"])
    response = login(staff.operator).post(check, follow=True)
    assert response.status_code == 200
    assert "Could not queue a check of hub1" in response.content.decode()


def test_check_now_for_an_unknown_connector_is_404(staff, login):
    check = reverse("cockpit:connector_check", args=["north-kiln", "nope"])
    assert login(staff.operator).post(check).status_code == 404
