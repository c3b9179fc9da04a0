"""The contract suite's view of each peer: build the kind's connector aimed at it, inject
faults, count requests. One adapter per registered connector kind."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from unittest import mock

import grpc
from google.cloud import firestore

from connectors.firestore.connector import FirestoreConnector
from connectors.firestore.writes import EMULATOR_ENV, FirestorePilotConnector
from connectors.hubitat.connector import HubitatConnector
from connectors.roborock.connector import RoborockConnector
from connectors.sdk.base import Connector, MemoryRecorder
from connectors.sdk.breaker import CircuitBreaker
from connectors.sdk.contract import Fault
from connectors.sdk.schemas import ReadQuery
from connectors.stripe.connector import StripeConnector
from connectors.stripe.schemas import RESOURCES as STRIPE_RESOURCES
from tests.peers.firestore_peer import FirestorePeer
from tests.peers.hubitat_peer import HubitatPeer, free_port
from tests.peers.roborock_peer import TOKEN as VACUUM_TOKEN
from tests.peers.roborock_peer import RoborockPeer, unused_loopback_address
from tests.peers.stripe_peer import StripePeer

# Short timeouts and waits so every fault shows in well under a second or two.
FAST = {
    "timeout": 0.5,
    "retry_attempts": 2,
    "retry_wait_initial": 0.01,
    "retry_wait_max": 0.05,
    "retry_jitter": 0.01,
    "total_timeout": 5,
}


class HubitatContractPeer:
    kind = "hubitat"
    unsupported: Mapping[Fault, str] = {}
    read_query = ReadQuery()

    def __init__(self, peer: HubitatPeer) -> None:
        self.peer = peer
        self._url = peer.url
        self._token = peer.token

    def connector(
        self,
        *,
        read_only: bool = True,
        breaker: CircuitBreaker | None = None,
        recorder: MemoryRecorder | None = None,
    ) -> Connector:
        settings = HubitatConnector.settings_model.model_validate(
            {"host": self._url, "app_id": self.peer.app_id, **FAST}
        )
        return HubitatConnector(
            instance="contract-hubitat",
            settings=settings,
            secrets={"token": self._token},
            read_only=read_only,
            breaker=breaker,
            recorder=recorder,
        )

    def inject(self, fault: Fault) -> None:
        if fault is Fault.DELAY:
            self.peer.inject(delay=1.0)
        elif fault is Fault.UNAUTHORIZED:
            self._token = "wrong-token-0000"
        elif fault is Fault.SERVER_ERROR:
            self.peer.inject(status=500)
        elif fault is Fault.REFUSED:
            self._url = f"http://127.0.0.1:{free_port()}"
        elif fault is Fault.MALFORMED:
            self.peer.inject(malformed=True)
        elif fault is Fault.TRUNCATED:
            self.peer.inject(truncated=True)
        elif fault is Fault.RESET:
            self.peer.inject(reset=True)

    def heal(self) -> None:
        self.peer.inject()
        self._url, self._token = self.peer.url, self.peer.token

    def requests(self) -> int:
        return self.peer.stats.requests

    def write_requests(self) -> int:
        return self.peer.stats.writes


class RoborockContractPeer:
    kind = "roborock"
    unsupported: Mapping[Fault, str] = {
        Fault.UNAUTHORIZED: "miIO has no refusal: a vacuum ignores a packet sealed with the "
        "wrong token, so "
        "the client sees silence (TIMEOUT); tested in test_roborock.py",
        Fault.RESET: "UDP has no connection to reset; a vanished vacuum is silence (TIMEOUT) "
        "or an ICMP "
        "refusal (UNAVAILABLE), both covered",
    }
    read_query = ReadQuery()

    def __init__(self, peer: RoborockPeer) -> None:
        self.peer = peer
        self._settings: dict[str, Any] = peer.settings(**FAST)

    def connector(
        self,
        *,
        read_only: bool = True,
        breaker: CircuitBreaker | None = None,
        recorder: MemoryRecorder | None = None,
    ) -> Connector:
        settings = RoborockConnector.settings_model.model_validate(self._settings)
        return RoborockConnector(
            instance="contract-roborock",
            settings=settings,
            secrets={"token": VACUUM_TOKEN},
            read_only=read_only,
            breaker=breaker,
            recorder=recorder,
        )

    def inject(self, fault: Fault) -> None:
        if fault is Fault.DELAY:
            self.peer.set_faults(delay=1.0)
        elif fault is Fault.SERVER_ERROR:
            self.peer.set_faults(device_error=True)
        elif fault is Fault.REFUSED:
            dead = unused_loopback_address()
            devices = [{**d, "ip": dead} for d in self._settings["devices"]]
            self._settings = {**self._settings, "devices": devices}
        elif fault in (Fault.MALFORMED,):
            self.peer.set_faults(garbage=True)
        elif fault is Fault.TRUNCATED:
            self.peer.set_faults(truncated=True)
        else:
            raise AssertionError(f"{fault} is declared unsupported for roborock")

    def heal(self) -> None:
        self.peer.heal()
        self._settings = self.peer.settings(**FAST)

    def requests(self) -> int:
        return self.peer.datagrams

    def write_requests(self) -> int:
        return self.peer.writes


class FirestoreContractPeer:
    """The Firestore connector against the Python gRPC peer (a few seeded batches)."""

    kind = "firestore"
    project = "contract-test"
    unsupported: Mapping[Fault, str] = {
        Fault.MALFORMED: "gRPC carries length-prefixed protobuf, not JSON; the peer only "
        "sends well-formed messages, and a frame the client cannot parse surfaces as INTERNAL, "
        "which is the server-error case",
        Fault.TRUNCATED: "a gRPC stream cut short is a broken stream (UNAVAILABLE), covered by "
        "the server-error case here and by the mid-stream break in test_firestore.py",
        Fault.RESET: "HTTP/2 multiplexes calls on one connection; a reset reaches the client as "
        "UNAVAILABLE exactly like the injected server error, which is covered",
    }
    read_query = ReadQuery(
        resource="documents", params={"collection": "batches", "scan_limit": 100}
    )
    # Every attempt (and the read's read-time anchor) takes one fault; more than enough.
    TIMES = 50

    def __init__(self, peer: FirestorePeer, host_port: str) -> None:
        self.peer = peer
        self.host_port = host_port
        self._target = host_port
        client = firestore.Client(project=self.project)
        batch = client.batch()
        for index in range(5):
            batch.set(client.collection("batches").document(f"b{index}"), {"state": "GLAZING"})
        batch.commit()

    def connector(
        self,
        *,
        read_only: bool = True,
        breaker: CircuitBreaker | None = None,
        recorder: MemoryRecorder | None = None,
    ) -> Connector:
        settings = FirestoreConnector.settings_model.model_validate(
            {"project": self.project, **FAST}
        )
        # The client reads its emulator address when it is built.
        with mock.patch.dict(os.environ, {"FIRESTORE_EMULATOR_HOST": self._target}):
            return FirestoreConnector(
                instance="contract-firestore",
                settings=settings,
                read_only=read_only,
                breaker=breaker,
                recorder=recorder,
            )

    def inject(self, fault: Fault) -> None:
        if fault is Fault.DELAY:
            self.peer.inject_fault("*", code=None, delay=1.0, times=self.TIMES)
        elif fault is Fault.UNAUTHORIZED:
            self.peer.inject_fault("*", code=grpc.StatusCode.UNAUTHENTICATED, times=self.TIMES)
        elif fault is Fault.SERVER_ERROR:
            self.peer.inject_fault("*", code=grpc.StatusCode.INTERNAL, times=self.TIMES)
        elif fault is Fault.REFUSED:
            self._target = f"127.0.0.1:{free_port()}"
        else:
            raise AssertionError(f"{fault} is declared unsupported for firestore")

    def heal(self) -> None:
        self.peer.clear_faults()
        self._target = self.host_port

    def requests(self) -> int:
        return sum(self.peer.calls.values())

    def write_requests(self) -> int:
        return self.peer.write_calls


class StripeContractPeer:
    """The Stripe connector against localstripe behind the front (one PaymentIntent made)."""

    kind = "stripe"
    unsupported: Mapping[Fault, str] = {}
    read_query = ReadQuery(resource="payment_intents")
    TIMES = 50

    def __init__(self, peer: StripePeer) -> None:
        self.peer = peer
        self._url = peer.url
        self._key = "sk_test_contract"
        peer.client().v1.payment_intents.create(params={"amount": 1500, "currency": "gbp"})

    def connector(
        self,
        *,
        read_only: bool = True,
        breaker: CircuitBreaker | None = None,
        recorder: MemoryRecorder | None = None,
    ) -> Connector:
        settings = StripeConnector.settings_model.model_validate(
            {
                "api_base": self._url,
                "created_filter_unsupported": [
                    r for r in STRIPE_RESOURCES if r not in ("checkout_sessions", "disputes")
                ],
                **FAST,
            }
        )
        return StripeConnector(
            instance="contract-stripe",
            settings=settings,
            secrets={"api_key": self._key},
            read_only=read_only,
            breaker=breaker,
            recorder=recorder,
        )

    def inject(self, fault: Fault) -> None:
        if fault is Fault.DELAY:
            self.peer.inject_fault(status=None, delay=1.0, times=self.TIMES)
        elif fault is Fault.UNAUTHORIZED:
            self.peer.inject_fault(status=401, times=self.TIMES)
        elif fault is Fault.SERVER_ERROR:
            self.peer.inject_fault(status=500, times=self.TIMES)
        elif fault is Fault.REFUSED:
            self._url = f"http://127.0.0.1:{free_port()}"
        elif fault is Fault.MALFORMED:
            self.peer.inject_fault(body=b'{"object": "list", "data": [oops', times=self.TIMES)
        elif fault is Fault.TRUNCATED:
            self.peer.inject_fault(
                body=b'{"object": "list", "data": [{"id": "pi_', times=self.TIMES
            )
        elif fault is Fault.RESET:
            self.peer.inject_fault(reset=True, times=self.TIMES)

    def heal(self) -> None:
        self.peer.clear_faults()
        self._url = self.peer.url

    def requests(self) -> int:
        return self.peer.request_count

    def write_requests(self) -> int:
        return self.peer.write_calls


class FirestorePilotContractPeer:
    """The Firestore write pilot against the Python gRPC peer (emulator mode)."""

    kind = "firestore_pilot"
    read_query = ReadQuery(resource="devices")
    unsupported: Mapping[Fault, str] = {
        Fault.MALFORMED: "gRPC carries length-prefixed protobuf, not JSON: a body the client "
        "cannot decode is a transport error the client raises itself, never a parse by us",
        Fault.TRUNCATED: "a truncated gRPC frame never reaches the connector: the HTTP/2 "
        "transport reports it as UNAVAILABLE, which REFUSED already covers",
        Fault.RESET: "a reset gRPC stream surfaces as UNAVAILABLE exactly like a refused "
        "connection (REFUSED covers it); the peer cannot reset a stream on demand",
    }

    def __init__(self, peer: FirestorePeer) -> None:
        self.peer = peer
        self._host = peer.host_port

    def connector(
        self,
        *,
        read_only: bool = True,
        breaker: CircuitBreaker | None = None,
        recorder: MemoryRecorder | None = None,
    ) -> Connector:
        # The client reads the emulator address when it is first used, within this test
        # (the firestore_peer fixture restores the variable afterwards).
        os.environ[EMULATOR_ENV] = self._host
        settings = FirestorePilotConnector.settings_model.model_validate(
            {"project": "demo-test", "emulator": True, **FAST}
        )
        return FirestorePilotConnector(
            instance="contract-firestore-pilot",
            settings=settings,
            secrets={},
            read_only=read_only,
            breaker=breaker,
            recorder=recorder,
        )

    def inject(self, fault: Fault) -> None:
        if fault is Fault.DELAY:
            self.peer.inject_fault("*", times=1000, code=None, delay=1.0)
        elif fault is Fault.UNAUTHORIZED:
            self.peer.inject_fault("*", times=1000, code=grpc.StatusCode.UNAUTHENTICATED)
        elif fault is Fault.SERVER_ERROR:
            self.peer.inject_fault("*", times=1000, code=grpc.StatusCode.INTERNAL)
        elif fault is Fault.REFUSED:
            self._host = f"127.0.0.1:{free_port()}"
        else:
            raise AssertionError(f"{fault} is declared unsupported for firestore_pilot")

    def heal(self) -> None:
        self.peer.clear_faults()
        self._host = self.peer.host_port
        os.environ[EMULATOR_ENV] = self._host

    def requests(self) -> int:
        return sum(self.peer.calls.values())

    def write_requests(self) -> int:
        return self.peer.write_calls
