"""The contract suite's view of each peer: build the kind's connector aimed at it, inject
faults, count requests. One adapter per registered connector kind."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import grpc

from connectors.firestore.writes import EMULATOR_ENV, FirestorePilotConnector
from connectors.hubitat.connector import HubitatConnector
from connectors.roborock.connector import RoborockConnector
from connectors.sdk.base import Connector, MemoryRecorder
from connectors.sdk.breaker import CircuitBreaker
from connectors.sdk.contract import Fault
from tests.peers.firestore_peer import FirestorePeer
from tests.peers.hubitat_peer import HubitatPeer, free_port
from tests.peers.roborock_peer import TOKEN as VACUUM_TOKEN
from tests.peers.roborock_peer import RoborockPeer, unused_loopback_address

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


class FirestorePilotContractPeer:
    """The Firestore write pilot against the Python gRPC peer (emulator mode)."""

    kind = "firestore_pilot"
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
