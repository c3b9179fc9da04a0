"""Fixtures for the peers' own tests: one peer per session, reset before every test."""

from collections.abc import Iterator

import pytest
from google.cloud import firestore

from tests.peers.firestore_peer import FirestorePeer, start_firestore_peer
from tests.peers.stripe_peer import StripePeer, start_stripe_peer


@pytest.fixture(scope="session")
def firestore_peer_session() -> Iterator[FirestorePeer]:
    peer, host_port = start_firestore_peer(admin_port=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIRESTORE_EMULATOR_HOST", host_port)
        yield peer
    peer.stop()


@pytest.fixture
def firestore_peer(firestore_peer_session: FirestorePeer) -> FirestorePeer:
    firestore_peer_session.reset()
    return firestore_peer_session


@pytest.fixture
def firestore_client(firestore_peer: FirestorePeer) -> Iterator[firestore.Client]:
    client = firestore.Client(project="demo-test")
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
