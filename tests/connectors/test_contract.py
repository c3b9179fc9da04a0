"""The contract every registered connector kind passes against its real peer."""

from __future__ import annotations

import pytest

from connectors.sdk import contract
from connectors.sdk.contract import EXPECTED, Fault
from connectors.sdk.registry import kinds

PEERS = {
    "firestore": "firestore_contract_peer",
    "firestore_pilot": "firestore_pilot_contract_peer",
    "hubitat": "hubitat_contract_peer",
    "roborock": "roborock_contract_peer",
    "stripe": "stripe_contract_peer",
}
KINDS = sorted(PEERS)


def test_every_registered_kind_has_a_peer_in_the_contract_suite():
    assert kinds() == KINDS


@pytest.fixture(params=KINDS)
def peer(request):
    return request.getfixturevalue(PEERS[request.param])


def test_health_carries_request_id_and_hashes(peer):
    contract.check_health_carries_correlation(peer)


def test_read_returns_schema_valid_devices_or_records(peer):
    contract.check_read_returns_schema_valid_devices(peer)


def test_write_intent_on_read_only_connector_is_refused_before_any_io(peer):
    contract.check_read_only_refuses_writes_before_io(peer)


@pytest.mark.parametrize("fault", list(Fault), ids=[f.name.lower() for f in Fault])
@pytest.mark.parametrize("operation", ["health", "read"])
def test_injected_fault_maps_to_its_error_code(peer, fault, operation):
    if fault in peer.unsupported:
        # Not a skip: the kind must say why its transport cannot express the fault.
        assert len(peer.unsupported[fault]) > 20
        return
    error = contract.check_fault_maps_to_code(peer, fault, operation)
    assert error.code == EXPECTED[fault]


def test_breaker_opens_after_three_failures_and_closes_after_a_good_probe(peer, breaker_factory):
    contract.check_breaker_opens_and_closes(peer, breaker_factory(peer.kind))


def test_contract_catches_a_connector_that_maps_a_fault_wrongly(hubitat_contract_peer, monkeypatch):
    """The harness itself can fail: a 500 reported as BAD_RESPONSE breaks the contract."""
    monkeypatch.setitem(contract.EXPECTED, Fault.SERVER_ERROR, contract.ErrorCode.BAD_RESPONSE)
    with pytest.raises(contract.ContractFailure, match="must map to BAD_RESPONSE"):
        contract.check_fault_maps_to_code(hubitat_contract_peer, Fault.SERVER_ERROR)
