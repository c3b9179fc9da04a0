"""Screenshots of the Connectors page in its states, driven through Debian's chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.runtime import redis_client
from connectors.services import connector_poll
from tests.cockpit.browser import sign_in
from tests.factories import ConnectorConfigFactory
from tests.peers.contract_peers import FAST

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(live_server, page, staff):
    return sign_in(page, live_server.url, "otto")


def shoot(page, live_server, name: str) -> str:
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{live_server.url}/s/north-kiln/connectors/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"connectors-{name}.png"), full_page=True)
    return page.content()


@pytest.fixture
def configured(staff, hubitat_peer, roborock_peer, monkeypatch):
    monkeypatch.setenv("SHOT_HUBITAT_TOKEN", hubitat_peer.token)
    monkeypatch.setenv("SHOT_VACUUM_TOKEN", "0" * 32)
    hub = ConnectorConfigFactory(
        studio=staff.studio,
        kind="hubitat",
        name="hub1",
        settings={"host": hubitat_peer.url, "app_id": 12, **FAST},
        secret_env={"token": "SHOT_HUBITAT_TOKEN"},
    )
    vacuums = ConnectorConfigFactory(
        studio=staff.studio,
        kind="roborock",
        name="vacuums",
        settings=roborock_peer.settings(**FAST),
        secret_env={"token": "SHOT_VACUUM_TOKEN"},
    )
    yield hub, vacuums
    for config in (hub, vacuums):
        redis_client().delete(f"brain:breaker:{config.instance_id}")


def poll(*configs, times=6):
    for _ in range(times):
        for config in configs:
            connector_poll(config=config)


def test_empty_state(signed_in, live_server):
    html = shoot(signed_in, live_server, "empty")
    assert "No connectors configured" in html


def test_healthy_state(signed_in, live_server, configured):
    poll(*configured)
    html = shoot(signed_in, live_server, "healthy")
    assert "Degraded:" not in html and html.count('status-healthy">healthy') == 2
    assert signed_in.locator("svg.sparkline").count() == 2
    assert signed_in.get_by_role("button", name="Check now").count() == 2


def test_degraded_state(signed_in, live_server, configured, roborock_peer):
    poll(*configured)
    roborock_peer.vacuums[2].faults.silent = True
    poll(configured[1], times=1)
    html = shoot(signed_in, live_server, "degraded")
    assert "partly working (vacuums)" in html


def test_down_state(signed_in, live_server, configured, hubitat_peer):
    poll(*configured)
    hubitat_peer.inject(status=500)
    poll(configured[0], times=3)
    html = shoot(signed_in, live_server, "down")
    assert "1 connector down (hub1)" in html
    assert "UNAVAILABLE" in html
