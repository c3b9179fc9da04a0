"""Roborock over miIO against python-miio's simulator on loopback addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from connectors.models import DeviceReading
from connectors.roborock.connector import RoborockConnector
from connectors.roborock.schemas import RoborockSettings
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.schemas import WriteIntent
from connectors.services import device_readings_store
from tests.factories import ConnectorConfigFactory
from tests.peers.contract_peers import FAST
from tests.peers.roborock_peer import TOKEN


def vacuums(peer, *, token=TOKEN, read_only=True, **overrides):
    settings = RoborockSettings.model_validate(peer.settings(**{**FAST, **overrides}))
    return RoborockConnector(
        instance="rr-test", settings=settings, secrets={"token": token}, read_only=read_only
    )


def test_read_returns_status_battery_error_consumables_and_cleaning(roborock_peer):
    result = vacuums(roborock_peer).read()
    assert len(result.devices) == 3
    device = result.devices[0]
    assert (
        device.online,
        device.battery,
        device.attributes["state"],
        device.attributes["error"],
    ) == (True, 87, "Charging", "No error")
    details = device.details
    assert details["consumables"] == {
        "filter_left_h": 141.0,
        "main_brush_left_h": 291.0,
        "side_brush_left_h": 191.0,
        "sensor_left_h": 28.9,
    }
    assert details["clean_summary"] == {
        "count": 82,
        "total_duration_s": 174145,
        "total_area_m2": 2410.15,
    }
    assert details["last_clean"]["duration_s"] == 2400 and details["last_clean"]["complete"] is True
    assert device.last_activity is not None


def test_a_wrong_token_is_silence_so_it_times_out(roborock_peer):
    with pytest.raises(ConnectorError) as caught:
        vacuums(roborock_peer, token="f" * 32, retry_attempts=1, timeout=0.3).health()
    assert caught.value.code == ErrorCode.TIMEOUT


def test_a_silent_vacuum_never_holds_the_caller_past_its_deadline(roborock_peer):
    roborock_peer.vacuums[0].faults.silent = True
    report = vacuums(roborock_peer, retry_attempts=1, timeout=0.3).health()
    assert report.availability == "degraded"
    assert (report.devices_total, report.devices_reachable) == (3, 2)
    assert "TIMEOUT" in report.detail


def test_one_vacuum_down_leaves_the_others_read_and_marks_it_unreachable(roborock_peer):
    roborock_peer.vacuums[1].faults.device_error = True
    result = vacuums(roborock_peer, retry_attempts=1).read()
    states = [(d.id, d.reachable) for d in result.devices]
    assert states == [("vacuum-1", True), ("vacuum-2", False), ("vacuum-3", True)]
    assert result.devices[1].problem.startswith("UNAVAILABLE")


@pytest.mark.django_db
def test_an_unseen_vacuum_stays_online_for_30_minutes_then_is_offline_with_its_last_seen(
    roborock_peer, studio
):
    config = ConnectorConfigFactory(
        studio=studio, kind="roborock", name="vacuums", settings=roborock_peer.settings()
    )
    connector = vacuums(roborock_peer, retry_attempts=1)
    seen_at = timezone.now()
    device_readings_store(config=config, result=connector.read())
    roborock_peer.vacuums[0].faults.silent = True
    with time_machine.travel(seen_at + timedelta(minutes=29)):
        device_readings_store(config=config, result=connector.read())
        first = DeviceReading.objects.get(config=config, device_id="vacuum-1")
        assert (first.online, first.reachable) == (True, False)
    with time_machine.travel(seen_at + timedelta(minutes=31)):
        device_readings_store(config=config, result=connector.read())
    first = DeviceReading.objects.get(config=config, device_id="vacuum-1")
    assert (first.online, first.reachable, first.battery) == (False, False, 87)
    assert abs((first.last_seen - seen_at).total_seconds()) < 5
    assert DeviceReading.objects.get(config=config, device_id="vacuum-2").online


def test_write_pilot_start_changes_the_simulated_vacuums_status(roborock_peer):
    connector = vacuums(roborock_peer, read_only=False)
    outcome = connector.execute(
        WriteIntent(operation="vacuum.start", target="vacuum-2", idempotency_key="pilot-start-0001")
    )
    assert outcome.accepted
    assert roborock_peer.vacuums[1].status["state"] == 5
    assert connector.read().devices[1].attributes["state"] == "Cleaning"
    connector.execute(
        WriteIntent(operation="vacuum.dock", target="vacuum-2", idempotency_key="pilot-dock-0001")
    )
    assert roborock_peer.vacuums[1].status["state"] == 6


def test_settings_need_unique_ids_and_real_addresses():
    from connectors.runtime import validate_settings
    from connectors.sdk.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as caught:
        validate_settings("roborock", {"devices": [{"id": "a", "ip": "vacuum.local"}]})
    assert ("devices.0.ip", "must be an IPv4 address such as 192.168.1.40") in caught.value.errors
