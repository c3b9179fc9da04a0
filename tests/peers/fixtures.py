"""Peer fixtures (a pytest plugin loaded by tests/conftest.py): started once per session on
loopback, reset per test, so every test package can use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from connectors.firestore.writes import EMULATOR_ENV
from connectors.sdk.breaker import BreakerPolicy, CircuitBreaker
from tests.peers.contract_peers import (
    FirestorePilotContractPeer,
    HubitatContractPeer,
    RoborockContractPeer,
)
from tests.peers.firestore_peer import FirestorePeer, start_firestore_peer
from tests.peers.hubitat_peer import HubitatPeer
from tests.peers.roborock_peer import RoborockPeer


@pytest.fixture(scope="session")
def hubitat_server() -> Iterator[HubitatPeer]:
    peer = HubitatPeer(device_count=6).start()
    yield peer
    peer.stop()


@pytest.fixture
def hubitat_peer(hubitat_server: HubitatPeer) -> HubitatPeer:
    hubitat_server.reset()
    hubitat_server.max_in_flight = None
    return hubitat_server


@pytest.fixture(scope="session")
def roborock_server() -> Iterator[RoborockPeer]:
    peer = RoborockPeer(count=3).start()
    yield peer
    peer.stop()


@pytest.fixture
def roborock_peer(roborock_server: RoborockPeer) -> RoborockPeer:
    roborock_server.heal()
    roborock_server.reset_state()
    return roborock_server


@pytest.fixture(scope="session")
def firestore_server() -> Iterator[FirestorePeer]:
    peer, _host_port = start_firestore_peer()
    yield peer
    peer.stop()


@pytest.fixture
def firestore_peer(firestore_server: FirestorePeer, monkeypatch) -> FirestorePeer:
    """The Firestore peer, emptied, with FIRESTORE_EMULATOR_HOST pointing at it for this test
    (set per test, so another session-wide peer cannot leave the variable aimed elsewhere)."""
    firestore_server.reset()
    monkeypatch.setenv(EMULATOR_ENV, firestore_server.host_port)
    return firestore_server


@pytest.fixture
def firestore_pilot_contract_peer(firestore_peer: FirestorePeer) -> FirestorePilotContractPeer:
    return FirestorePilotContractPeer(firestore_peer)


@pytest.fixture
def hubitat_contract_peer(hubitat_peer: HubitatPeer) -> HubitatContractPeer:
    return HubitatContractPeer(hubitat_peer)


@pytest.fixture
def roborock_contract_peer(roborock_peer: RoborockPeer) -> RoborockContractPeer:
    return RoborockContractPeer(roborock_peer)


@pytest.fixture
def redis_client(settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    for key in client.scan_iter("brain:breaker:test-*"):
        client.delete(key)


@pytest.fixture
def breaker_factory(redis_client, request):
    """A breaker with a unique key per test and a short backoff, so the cycle fits a test."""

    def make(name: str = "", policy: BreakerPolicy | None = None) -> CircuitBreaker:
        key = f"test-{request.node.name}-{name}"[:200]
        breaker = CircuitBreaker(
            redis_client, key, policy or BreakerPolicy(initial_backoff=0.2, max_backoff=1.0)
        )
        breaker.reset()
        return breaker

    return make
