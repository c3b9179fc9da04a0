"""Peer fixtures (a pytest plugin loaded by tests/conftest.py): started once per session on
loopback, reset per test, so every test package can use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from google.cloud import firestore

from connectors.sdk.breaker import BreakerPolicy, CircuitBreaker
from tests.peers.contract_peers import (
    FirestoreContractPeer,
    FirestorePilotContractPeer,
    HubitatContractPeer,
    RoborockContractPeer,
    StripeContractPeer,
)
from tests.peers.firestore_peer import FirestorePeer, start_firestore_peer
from tests.peers.hubitat_peer import HubitatPeer
from tests.peers.roborock_peer import RoborockPeer
from tests.peers.stripe_peer import StripePeer, start_stripe_peer

# The project tests write and read in the Firestore peer (the peer keeps projects apart).
FIRESTORE_PROJECT = "demo-test"


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
def firestore_peer_session() -> Iterator[FirestorePeer]:
    """The Python Firestore gRPC peer; the stock client finds it through
    FIRESTORE_EMULATOR_HOST, set for the rest of the session once a test asks for it."""
    peer, host_port = start_firestore_peer(admin_port=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIRESTORE_EMULATOR_HOST", host_port)
        yield peer
    peer.stop()


@pytest.fixture
def firestore_peer(firestore_peer_session: FirestorePeer, monkeypatch) -> FirestorePeer:
    """The Firestore peer, emptied, with FIRESTORE_EMULATOR_HOST pointing at it for this test
    (set per test too, so a test that aimed it elsewhere cannot leak into the next)."""
    firestore_peer_session.reset()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_peer_session.host_port)
    return firestore_peer_session


@pytest.fixture
def firestore_client(firestore_peer: FirestorePeer) -> Iterator[firestore.Client]:
    """The stock client on the peer, for seeding (tests may write; the brain never does)."""
    client = firestore.Client(project=FIRESTORE_PROJECT)
    yield client
    client.close()


@pytest.fixture(scope="session")
def stripe_peer_session() -> Iterator[StripePeer]:
    peer = start_stripe_peer()
    yield peer
    peer.stop()


@pytest.fixture
def stripe_peer(stripe_peer_session: StripePeer) -> StripePeer:
    stripe_peer_session.reset()
    return stripe_peer_session


@pytest.fixture
def firestore_contract_peer(firestore_peer: FirestorePeer) -> FirestoreContractPeer:
    return FirestoreContractPeer(firestore_peer, firestore_peer.host_port)


@pytest.fixture
def stripe_contract_peer(stripe_peer: StripePeer) -> StripeContractPeer:
    return StripeContractPeer(stripe_peer)


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


@pytest.fixture
def firestore_pilot_contract_peer(firestore_peer: FirestorePeer) -> FirestorePilotContractPeer:
    return FirestorePilotContractPeer(firestore_peer)


# Notifications: a real SMTP server and a webhook receiver on loopback (tests/peers/notify_peers.py).


@pytest.fixture(scope="session")
def smtp_server():
    from tests.peers.notify_peers import SmtpPeer

    peer = SmtpPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def smtp_peer(smtp_server, settings):
    """The SMTP peer, with Django's mail framework and the config contract pointed at it."""
    from brain.config import replace

    smtp_server.reset()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": smtp_server.port, "timeout": 5},
        }
    }
    settings.BRAIN = replace(settings.BRAIN, email_host="127.0.0.1", email_port=smtp_server.port)
    return smtp_server


@pytest.fixture(scope="session")
def webhook_server():
    from tests.peers.notify_peers import WebhookPeer

    peer = WebhookPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def webhook_peer(webhook_server, monkeypatch):
    """The webhook receiver; its secret is in NOTIFY_TEST_WEBHOOK_SECRET, as an admin would set."""
    webhook_server.reset()
    monkeypatch.setenv("NOTIFY_TEST_WEBHOOK_SECRET", webhook_server.secret)
    return webhook_server
