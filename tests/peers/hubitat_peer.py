"""A Maker API test server: real HTTP on a loopback port, in a thread.

It follows the Maker API's documented shapes (``/apps/api/<app_id>/devices``,
``/devices/all``, ``/devices/<id>``, ``/devices/<id>/events``, commands as
``/devices/<id>/<command>[/<value>]``, the token in ``access_token``) and has switches
to inject the faults a real hub shows: a delay, 5xx or 429, malformed JSON, a truncated
body, a connection reset, and HTTP 500 under bursts above ``max_in_flight``. It counts
every request and every write (command) attempt.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "hubitat-test-token-5f1c0de"
APP_ID = 12
READ_SUFFIXES = {"events"}


@dataclass
class Faults:
    delay: float = 0.0
    status: int | None = None  # answer this HTTP status (500, 503, 429 ...)
    retry_after: str | None = None
    malformed: bool = False
    truncated: bool = False
    reset: bool = False
    garbage: bytes | None = None  # answer exactly these bytes with 200
    remaining: int | None = None  # apply to this many requests, then heal (None: until cleared)


@dataclass
class Stats:
    requests: int = 0
    writes: int = 0
    unauthorized: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    burst_errors: int = 0
    paths: list[str] = field(default_factory=list)


def make_devices(count: int) -> list[dict[str, Any]]:
    """A studio's devices: switches, presence sensors, battery contact sensors, a plug with
    an ``online`` attribute; some report a last-activity ``date``."""
    kinds = [
        ("Generic Z-Wave Switch", {"switch": "on"}, ["Switch"]),
        (
            "Generic Zigbee Contact Sensor",
            {"contact": "closed", "battery": "87"},
            ["ContactSensor", "Battery"],
        ),
        ("Virtual Presence", {"presence": "present"}, ["PresenceSensor"]),
        ("Generic Z-Wave Switch", {"switch": "off"}, ["Switch"]),
        ("Smart Plug", {"online": "true", "power": "12.5"}, ["PowerMeter"]),
        (
            "Generic Zigbee Motion Sensor",
            {"motion": "inactive", "battery": "140"},
            ["MotionSensor", "Battery"],
        ),
    ]
    devices = []
    for index in range(count):
        device_type, attributes, capabilities = kinds[index % len(kinds)]
        device_id = str(100 + index)
        devices.append(
            {
                "id": device_id,
                "name": device_type,
                "label": f"Studio device {index + 1}",
                "type": device_type,
                "room": "Kiln room" if index % 2 else "Glaze room",
                "date": f"2026-11-2{index % 7}T0{index % 10}:15:30+0000" if index % 3 else None,
                "model": None,
                "manufacturer": None,
                "capabilities": capabilities,
                "attributes": dict(attributes),
                "commands": ["on", "off", "refresh"] if "switch" in attributes else ["refresh"],
            }
        )
    return devices


class HubitatPeer:
    def __init__(self, device_count: int = 6, *, max_in_flight: int | None = None) -> None:
        self.devices = make_devices(device_count)
        self.faults = Faults()
        self.stats = Stats()
        self.max_in_flight = max_in_flight
        self.token = TOKEN
        self.app_id = APP_ID
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hubitat-peer", daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> HubitatPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        """Heal faults, zero the counters and put every device back in its first state
        (commands change switch attributes, and a session-wide peer must not carry one
        test's switch flips into the next)."""
        with self._lock:
            self.faults = Faults()
            self.stats = Stats()
            self.devices = make_devices(len(self.devices))

    def inject(self, **faults: Any) -> None:
        with self._lock:
            self.faults = Faults(**faults)

    # -- the Maker API ------------------------------------------------------------------

    def _route(self, path: str) -> tuple[int, Any, bool]:
        """(status, body, is_write) for a path below /apps/api/<app_id>."""
        parts = [p for p in path.split("/") if p]
        if parts == ["devices"]:
            keys = ("id", "name", "label", "type", "room")
            return 200, [{k: d[k] for k in keys} for d in self.devices], False
        if parts == ["devices", "all"]:
            return 200, self.devices, False
        if len(parts) >= 2 and parts[0] == "devices":
            device = next((d for d in self.devices if d["id"] == parts[1]), None)
            if device is None:
                return (
                    404,
                    {"error": True, "type": "AccessDenied", "message": "device not found"},
                    False,
                )
            if len(parts) == 2:
                return 200, _detail(device), False
            if len(parts) == 3 and parts[2] in READ_SUFFIXES:
                return 200, _events(device), False
            command = parts[2]
            if command not in device["commands"]:
                return 404, {"error": True, "message": f"command {command} not found"}, True
            if command in ("on", "off"):
                device["attributes"]["switch"] = command
            return 200, _detail(device), True
        return 404, {"error": True, "message": "not found"}, False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the stats
                return

            def do_GET(self) -> None:
                with peer._lock:
                    peer.stats.requests += 1
                    peer.stats.in_flight += 1
                    peer.stats.peak_in_flight = max(peer.stats.peak_in_flight, peer.stats.in_flight)
                    over = (
                        peer.max_in_flight is not None and peer.stats.in_flight > peer.max_in_flight
                    )
                    faults = peer.faults
                    if faults.remaining is not None:
                        if faults.remaining <= 0:
                            faults = Faults()
                        else:
                            peer.faults.remaining = faults.remaining - 1
                try:
                    self._answer(faults, over)
                finally:
                    with peer._lock:
                        peer.stats.in_flight -= 1

            def _answer(self, faults: Faults, over: bool) -> None:
                url = urlsplit(self.path)
                prefix = f"/apps/api/{peer.app_id}"
                with peer._lock:
                    peer.stats.paths.append(url.path)
                if faults.delay:
                    time.sleep(faults.delay)
                if faults.reset:
                    # SO_LINGER 0 makes close() send RST: the client sees "connection reset".
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if not url.path.startswith(prefix + "/"):
                    return self._send(404, b'{"error":true,"message":"no such app"}')
                token = parse_qs(url.query).get("access_token", [""])[0]
                if token != peer.token:
                    with peer._lock:
                        peer.stats.unauthorized += 1
                    return self._send(
                        401, b'{"error":true,"type":"AccessDenied","message":"Unauthorized"}'
                    )
                if over:
                    with peer._lock:
                        peer.stats.burst_errors += 1
                    return self._send(
                        500, b"<html><body>500 Internal Server Error</body></html>", "text/html"
                    )
                status, body, is_write = peer._route(url.path[len(prefix) :])
                if is_write:
                    with peer._lock:
                        peer.stats.writes += 1
                if faults.status is not None:
                    headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
                    return self._send(faults.status, b"<html>hub busy</html>", "text/html", headers)
                if faults.garbage is not None:
                    return self._send(200, faults.garbage)
                payload = json.dumps(body).encode()
                if faults.malformed:
                    payload = b'{"id": 1, "label": "Kiln fan", attributes: [oops'
                if faults.truncated:
                    payload = payload[: max(1, len(payload) // 2)]
                return self._send(status, payload)

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str = "application/json",
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _detail(device: dict[str, Any]) -> dict[str, Any]:
    return {
        **{
            k: device[k]
            for k in ("id", "name", "label", "type", "room", "date", "model", "manufacturer")
        },
        "capabilities": device["capabilities"],
        "attributes": [
            {"name": name, "currentValue": value, "dataType": "STRING"}
            for name, value in device["attributes"].items()
        ],
        "commands": [{"command": c} for c in device["commands"]],
    }


def _events(device: dict[str, Any]) -> list[dict[str, Any]]:
    name, value = next(iter(device["attributes"].items()))
    return [
        {
            "device_id": device["id"],
            "label": device["label"],
            "room": device["room"],
            "name": name,
            "value": value,
            "date": f"2026-11-26T1{i}:00:00+0000",
            "unit": None,
            "isStateChange": True,
            "source": "DEVICE",
            "type": "physical",
            "descriptionText": f"{device['label']} {name} is {value}",
        }
        for i in range(3)
    ]


def free_port() -> int:
    """A loopback port nothing listens on (for "connection refused")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
