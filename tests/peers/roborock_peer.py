"""Simulated Roborock vacuums: python-miio's ``PushServer`` on 127.0.0.2, 127.0.0.3, ...

The miIO handshake always goes to UDP port 54321, so each vacuum needs its own loopback
address. All simulators share one asyncio loop in a daemon thread. Each one is stateful
(``app_start``/``app_pause``/``app_charge``/``find_me`` change its status, for the later
write pilot), answers ``miIO.info`` with ``create_info_response``, counts the datagrams
and write commands it receives, and can be told to misbehave: delay its answers, answer
a device error, answer garbage, truncate its datagrams, or fall silent.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from dataclasses import dataclass, field
from typing import Any

from miio import PushServer
from miio.devtools.simulators.common import create_info_response, did_and_mac_for_model

MODEL = "roborock.vacuum.a15"
TOKEN = "0" * 32  # the simulator's fixed token
WRITE_METHODS = {"app_start", "app_pause", "app_charge", "find_me", "app_stop"}

BASE_STATUS: dict[str, Any] = {
    "battery": 87,
    "clean_area": 35545000,
    "clean_time": 2311,
    "dnd_enabled": 0,
    "error_code": 0,
    "fan_power": 102,
    "in_cleaning": 0,
    "in_fresh_state": 1,
    "in_returning": 0,
    "lab_status": 3,
    "lock_status": 0,
    "map_present": 1,
    "map_status": 3,
    "msg_seq": 1839,
    "msg_ver": 2,
    "state": 8,
    "water_box_status": 1,
    "dock_type": 0,
    "is_locating": 0,
}
CONSUMABLES = {
    "filter_work_time": 32454,
    "sensor_dirty_time": 3798,
    "side_brush_work_time": 32454,
    "main_brush_work_time": 32454,
}
CLEAN_SUMMARY = [174145, 2410150000, 82, [1764145200, 1764058800, 1763972400]]
CLEAN_RECORD = [[1764145200, 1764147600, 2400, 32500000, 0, 1]]


@dataclass
class VacuumFaults:
    delay: float = 0.0  # seconds before each answer is sent
    silent: bool = False  # answer nothing (a wrong token looks exactly like this)
    device_error: bool = False  # every method fails on the device (miIO error -3)
    garbage: bool = False  # get_status answers a payload that is not a status
    truncated: bool = False  # cut every answer datagram short


@dataclass
class Vacuum:
    address: str
    server: PushServer
    status: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(BASE_STATUS))
    faults: VacuumFaults = field(default_factory=VacuumFaults)
    datagrams: int = 0
    writes: int = 0
    methods: list[str] = field(default_factory=list)


class _FaultyTransport:
    """Sits between the simulator and its socket to delay, drop or cut answers."""

    def __init__(self, inner: Any, vacuum: Vacuum, loop: asyncio.AbstractEventLoop) -> None:
        self._inner, self._vacuum, self._loop = inner, vacuum, loop

    def sendto(self, data: bytes, addr: Any) -> None:
        faults = self._vacuum.faults
        if faults.silent:
            return
        if faults.truncated and len(data) > 32:
            data = data[: 32 + (len(data) - 32) // 3]
        if faults.delay:
            self._loop.call_later(faults.delay, self._inner.sendto, data, addr)
        else:
            self._inner.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RoborockPeer:
    def __init__(self, count: int = 3, *, first_address: int = 2) -> None:
        self.count = count
        self.first_address = first_address
        self.vacuums: list[Vacuum] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="roborock-peer", daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> RoborockPeer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_all(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        async def stop_all() -> None:
            for vacuum in self.vacuums:
                await vacuum.server.stop()

        asyncio.run_coroutine_threadsafe(stop_all(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _start_all(self) -> None:
        candidate = self.first_address
        while len(self.vacuums) < self.count:
            if candidate > 250:
                raise RuntimeError("no free loopback address with UDP 54321 for a simulated vacuum")
            address = f"127.0.0.{candidate}"
            candidate += 1
            try:
                self.vacuums.append(await self._start_one(address, len(self.vacuums)))
            except OSError:  # another run already simulates a vacuum here
                continue

    async def _start_one(self, address: str, index: int) -> Vacuum:
        did, mac = did_and_mac_for_model(f"{MODEL}-{index}")
        server = PushServer(device_id=did)
        server._address = address
        vacuum = Vacuum(address=address, server=server)
        self._install_methods(vacuum, mac)
        _transport, protocol = await server.start()
        protocol.transport = _FaultyTransport(protocol.transport, vacuum, self._loop)
        received = protocol.datagram_received

        def counting(data: bytes, addr: Any) -> None:
            vacuum.datagrams += 1
            if not vacuum.faults.silent:
                received(data, addr)

        protocol.datagram_received = counting
        return vacuum

    def _install_methods(self, vacuum: Vacuum, mac: str) -> None:
        def method(name: str, answer: Any) -> None:
            def handler(payload: dict[str, Any]) -> dict[str, Any]:
                vacuum.methods.append(name)
                if name in WRITE_METHODS:
                    vacuum.writes += 1
                if vacuum.faults.device_error:
                    raise RuntimeError("simulated device failure")
                return {"result": answer(payload) if callable(answer) else answer}

            vacuum.server.add_method(name, handler)

        def status(_: Any) -> Any:
            if vacuum.faults.garbage:
                return ["<html>not a vacuum status</html>"]
            return [dict(vacuum.status)]

        def change(**fields: Any) -> Any:
            def apply(_: Any) -> list[str]:
                vacuum.status.update(fields)
                return ["ok"]

            return apply

        method("get_status", status)
        method("get_consumable", [CONSUMABLES])
        method("get_clean_summary", CLEAN_SUMMARY)
        method("get_clean_record", CLEAN_RECORD)
        method("app_start", change(state=5, in_cleaning=1, in_returning=0))
        method("app_pause", change(state=10, in_cleaning=0))
        method("app_stop", change(state=3, in_cleaning=0))
        method("app_charge", change(state=6, in_cleaning=0, in_returning=1))
        method("find_me", change(is_locating=1))
        vacuum.server.add_method("miIO.info", create_info_response(MODEL, vacuum.address, mac))

    # -- control ---------------------------------------------------------------------

    def set_faults(self, **faults: Any) -> None:
        for vacuum in self.vacuums:
            vacuum.faults = VacuumFaults(**faults)

    def heal(self) -> None:
        self.set_faults()

    def reset_state(self) -> None:
        """Every vacuum back to its first status with zeroed counters (commands change the
        status, and a session-wide peer must not carry one test's state into the next)."""
        for vacuum in self.vacuums:
            vacuum.status.clear()
            vacuum.status.update(copy.deepcopy(BASE_STATUS))
            vacuum.writes = 0
            vacuum.datagrams = 0
            vacuum.methods.clear()

    @property
    def datagrams(self) -> int:
        return sum(v.datagrams for v in self.vacuums)

    @property
    def writes(self) -> int:
        return sum(v.writes for v in self.vacuums)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Connector settings naming every simulated vacuum (token secret key ``token``)."""
        devices = [
            {"id": f"vacuum-{i + 1}", "label": f"Vacuum {i + 1}", "ip": v.address, "token": "token"}
            for i, v in enumerate(self.vacuums)
        ]
        return {"devices": devices, **overrides}


def unused_loopback_address() -> str:
    """A loopback address where nothing listens on UDP 54321 (the kernel answers
    "port unreachable": the miIO handshake is refused at once)."""
    import socket

    for last in range(250, 2, -1):
        address = f"127.0.0.{last}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((address, 54321))
            except OSError:
                continue
        return address
    raise RuntimeError("no unused loopback address")
