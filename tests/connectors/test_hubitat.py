"""Hubitat: normalization of Maker API devices, bounded concurrency, device detail reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.hubitat.connector import normalize, parse_hub_time
from connectors.hubitat.schemas import HubitatSettings, MakerEvent
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.schemas import ReadQuery
from tests.connectors.test_sdk import hubitat


@pytest.mark.parametrize(
    ("attributes", "online"),
    [
        ({"switch": "on"}, True),
        ({"switch": "off"}, False),
        ({"online": "true"}, True),
        ({"online": True}, True),
        ({"presence": "present"}, True),
        ({"presence": "not present"}, False),
        ({"contact": "open"}, False),
    ],
)
def test_a_device_is_online_when_switch_on_online_true_or_presence_present(attributes, online):
    assert normalize("1", "Fan", "Switch", attributes, None, []).online is online


def test_last_activity_is_the_newest_of_the_device_date_and_its_events():
    events = [
        MakerEvent(name="switch", value="on", date="2026-11-26T10:00:00+0000"),
        MakerEvent(name="switch", value="off", date="2026-11-26T12:30:00.123+0000"),
    ]
    device = normalize("1", "Fan", "Switch", {}, "2026-11-25T08:00:00+0000", events)
    assert device.last_activity == datetime(2026, 11, 26, 12, 30, 0, 123000, tzinfo=UTC)


def test_unparseable_hub_times_are_ignored_not_fatal():
    assert parse_hub_time("yesterday-ish") is None


def test_reading_devices_returns_every_device_normalized(hubitat_peer):
    result = hubitat(hubitat_peer).read()
    assert [d.id for d in result.devices] == [d["id"] for d in hubitat_peer.devices]
    sensor = next(d for d in result.devices if d.type == "Generic Zigbee Motion Sensor")
    assert sensor.battery == 100  # the hub said 140
    assert all(d.last_activity is not None for d in result.devices)
    assert hubitat_peer.stats.requests == 1 + len(hubitat_peer.devices)


def test_reading_chosen_devices_uses_the_full_detail_endpoint(hubitat_peer):
    result = hubitat(hubitat_peer).read(ReadQuery(resource="device", device_ids=("101",)))
    assert [(d.id, d.battery, d.attributes["contact"]) for d in result.devices] == [
        ("101", 87, "closed")
    ]
    assert "/apps/api/12/devices/101" in hubitat_peer.stats.paths


def test_requests_to_the_hub_stay_within_max_concurrency(hubitat_peer):
    """The hub answers 500 to bursts above 2 in flight; the connector never bursts past 2."""
    hubitat_peer.max_in_flight = 2
    hubitat_peer.inject(delay=0.02)
    hubitat(hubitat_peer, max_concurrency=2, retry_attempts=1).read()
    assert hubitat_peer.stats.burst_errors == 0
    assert hubitat_peer.stats.peak_in_flight <= 2


def test_a_burst_above_the_hubs_limit_is_answered_500_and_reported_unavailable(hubitat_peer):
    """The peer's burst limit is real: a connector allowed 6 at once trips it."""
    hubitat_peer.max_in_flight = 1
    hubitat_peer.inject(delay=0.05)
    with pytest.raises(ConnectorError) as caught:
        hubitat(hubitat_peer, max_concurrency=6, retry_attempts=1).read()
    assert caught.value.code == ErrorCode.UNAVAILABLE
    assert hubitat_peer.stats.burst_errors > 0


def test_a_device_id_cannot_smuggle_a_path_or_query(hubitat_peer):
    with pytest.raises(ConnectorError) as caught:
        hubitat(hubitat_peer).read(ReadQuery(resource="device", device_ids=("1/../x?y=1",)))
    assert caught.value.code == ErrorCode.UNKNOWN
    assert hubitat_peer.stats.requests == 0


@pytest.mark.parametrize(
    ("values", "field", "why"),
    [
        ({"host": "ftp://hub", "app_id": 1}, "host", "http"),
        ({"host": "http://hub?access_token=x", "app_id": 1}, "host", "query"),
        ({"host": "http://hub", "app_id": 0}, "app_id", "greater than or equal to 1"),
        ({"app_id": 3}, "host", "required"),
    ],
)
def test_settings_schema_names_the_bad_field_and_why(values, field, why):
    from connectors.runtime import validate_settings
    from connectors.sdk.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as caught:
        validate_settings("hubitat", values)
    fields = dict(caught.value.errors)
    assert field in fields and why in fields[field]


def test_settings_keep_the_host_without_a_trailing_slash():
    assert HubitatSettings(host="http://hub.local:8080/", app_id=4).host == "http://hub.local:8080"
