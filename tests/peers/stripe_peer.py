"""localstripe (PyPI, a stateful fake Stripe server) on loopback, behind a small HTTP front.

`start_stripe_peer()` launches localstripe as a subprocess on a free port, waits until it
answers, and puts a front on another loopback port. Point the real client at `peer.url`
(`peer.client()` does that). The front forwards every request to localstripe unchanged, except:

- scripted faults (`inject_fault`): a Stripe-shaped error such as 429 `rate_limit` or 500, or
  a delay, for the next N matching requests; localstripe itself never answers 429;
- `GET /v1/checkout/sessions[/<id>]` and `GET /v1/disputes[/<id>]`, which localstripe lacks:
  answered from objects the test loads (`load_objects`, e.g. the fixtures in
  tests/fixtures/stripe/), with Stripe's list contract (newest first, `limit`,
  `starting_after`, `ending_before`, `created` ranges and each endpoint's documented
  equality filters), so the reader reads them through the same client code.

It also counts requests (`calls`, `write_calls`) so a test can assert a reader wrote nothing.
`peer.localstripe_url` reaches localstripe directly.

One adjustment at launch: localstripe pickles its whole store to the hard-coded path
`/tmp/localstripe.pickle` after every write. That makes each write O(store size) and makes
parallel instances (other test runs on this machine) overwrite one file. With `--from-scratch`
the file is never read back, so the launcher turns the dump into a no-op; the HTTP API is
untouched. What localstripe covers and does not is listed in tests/peers/README.md.
"""

from __future__ import annotations

import atexit
import json
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import stripe

TEST_API_KEY = "sk_test_x"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
RECORDED_CHECKOUT_SESSIONS = FIXTURES / "checkout_sessions.json"
RECORDED_DISPUTES = FIXTURES / "disputes.json"

# Run localstripe's own entry point with the disk dump disabled (see the module docstring).
_LAUNCHER = (
    "import sys\n"
    "from localstripe import resources, server\n"
    "resources.Store.dump_to_disk = lambda self: None\n"
    "sys.argv = ['localstripe', *sys.argv[1:]]\n"
    "server.start()\n"
)
_HOP_BY_HOP = frozenset(
    {"connection", "content-length", "transfer-encoding", "content-encoding", "host", "keep-alive"}
)
# Error bodies in Stripe's documented shape, by status.
_ERRORS: dict[int, dict[str, str]] = {
    429: {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Request rate limit exceeded.",
    },
    500: {"type": "api_error", "message": "An unknown error occurred."},
    503: {"type": "api_error", "message": "The service is temporarily unavailable."},
}
_PAGING_PARAMETERS = frozenset({"limit", "starting_after", "ending_before", "created"})


@dataclass(frozen=True)
class FixtureRoute:
    """A list/retrieve endpoint localstripe lacks, served from loaded objects."""

    path: str
    object_name: str
    filters: frozenset[str]  # the endpoint's documented equality filters


FIXTURE_ROUTES = (
    FixtureRoute(
        "/v1/checkout/sessions",
        "checkout.session",
        frozenset({"customer", "payment_intent", "status"}),
    ),
    FixtureRoute("/v1/disputes", "dispute", frozenset({"charge", "payment_intent"})),
)


class StripePeerError(RuntimeError):
    """localstripe did not start or did not answer."""


@dataclass
class StripeFault:
    """The next `times` requests whose path starts with `path_prefix` (and whose method is
    `method`, if given) wait `delay` seconds and then, if `status` is set, get Stripe's error
    body for it instead of reaching localstripe.

    `body` answers HTTP 200 with exactly those bytes (malformed or truncated JSON);
    `reset` closes the connection with a TCP RST before answering; `retry_after` adds a
    Retry-After header to the error answer."""

    path_prefix: str = "/v1/"
    status: int | None = 429
    times: int = 1
    delay: float = 0.0
    method: str | None = None
    body: bytes | None = None
    reset: bool = False
    retry_after: float | None = None


@dataclass
class StripePeer:
    process: subprocess.Popen[bytes]
    localstripe_port: int
    log_path: Path
    fixture_objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[StripeFault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    _front: ThreadingHTTPServer | None = field(repr=False, default=None)
    _forward: httpx.Client | None = field(repr=False, default=None)
    _log_file: Any = field(repr=False, default=None)
    _lock: threading.Lock = field(repr=False, default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The front's base URL: give this to the client."""
        assert self._front is not None, "the peer is not running"
        return f"http://127.0.0.1:{self._front.server_address[1]}"

    @property
    def localstripe_url(self) -> str:
        return f"http://127.0.0.1:{self.localstripe_port}"

    @property
    def write_calls(self) -> int:
        """POST and DELETE requests under /v1/ that reached the front."""
        with self._lock:
            return sum(
                count
                for call, count in self.calls.items()
                if call.startswith(("POST /v1/", "DELETE /v1/"))
            )

    @property
    def request_count(self) -> int:
        """Every request that reached the front, reads and writes."""
        with self._lock:
            return sum(self.calls.values())

    def client(self, api_key: str = TEST_API_KEY) -> stripe.StripeClient:
        """The real client aimed at this peer (no network retries, so faults are visible)."""
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, max_network_retries=0)

    def reset(self) -> None:
        """Delete every object (`DELETE /_config/data`), the loaded Checkout Sessions, faults
        and counters."""
        self._localstripe("DELETE", "/_config/data")
        with self._lock:
            self.fixture_objects.clear()
            self.faults.clear()
            self.calls.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()

    def load_objects(self, path: str, objects: list[dict[str, Any]]) -> None:
        """Serve these objects (Stripe's JSON shape) at `path`, one of `FIXTURE_ROUTES`."""
        if path not in {route.path for route in FIXTURE_ROUTES}:
            raise ValueError(f"{path} is not served from fixtures; localstripe has it")
        with self._lock:
            self.fixture_objects.setdefault(path, []).extend(objects)

    def load_checkout_sessions(self, sessions: list[dict[str, Any]]) -> None:
        self.load_objects("/v1/checkout/sessions", sessions)

    def load_disputes(self, disputes: list[dict[str, Any]]) -> None:
        self.load_objects("/v1/disputes", disputes)

    def inject_fault(
        self,
        path_prefix: str = "/v1/",
        *,
        status: int | None = 429,
        times: int = 1,
        delay: float = 0.0,
        method: str | None = None,
        body: bytes | None = None,
        reset: bool = False,
        retry_after: float | None = None,
    ) -> StripeFault:
        fault = StripeFault(path_prefix, status, times, delay, method, body, reset, retry_after)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def configure_webhook(
        self, webhook_id: str, *, url: str, secret: str, events: list[str] | None = None
    ) -> None:
        """Have localstripe POST signed events to `url` (`POST /_config/webhooks/<id>`)."""
        form = {"url": url, "secret": secret}
        if events:
            form["events"] = ",".join(events)
        self._localstripe("POST", f"/_config/webhooks/{webhook_id}", form)

    def stop(self) -> None:
        if self._front is not None:
            self._front.shutdown()
            self._front.server_close()
            self._front = None
        if self._forward is not None:
            self._forward.close()
            self._forward = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- internals -----------------------------------------------------------------------

    def _localstripe(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> httpx.Response:
        response = httpx.request(
            method,
            self.localstripe_url + path,
            data=form,
            headers={"Authorization": f"Bearer {TEST_API_KEY}"},
            timeout=10,
        )
        response.raise_for_status()
        return response

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StripePeerError(
                    f"localstripe exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                body = self._localstripe("GET", "/v1/balance").json()
            except (httpx.HTTPError, ValueError):
                time.sleep(0.05)
                continue
            if "available" in body:  # the balance object: the app is up
                return
        raise StripePeerError(f"localstripe did not answer within {timeout}s:\n{self.log_tail()}")

    def _start_front(self) -> None:
        self._forward = httpx.Client(base_url=self.localstripe_url, timeout=30)
        self._front = ThreadingHTTPServer(("127.0.0.1", 0), _front_handler(self))
        self._front.daemon_threads = True
        threading.Thread(target=self._front.serve_forever, daemon=True).start()

    def _take_fault(self, method: str, path: str) -> StripeFault | None:
        with self._lock:
            self.calls[f"{method} {path}"] += 1
            for fault in self.faults:
                if path.startswith(fault.path_prefix) and fault.method in (None, method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _fixture_answer(self, route: FixtureRoute, path: str, query: str) -> tuple[int, Any]:
        with self._lock:
            objects = list(self.fixture_objects.get(route.path, []))
        object_id = path.removeprefix(route.path).strip("/")
        if object_id:
            for candidate in objects:
                if candidate["id"] == object_id:
                    return 200, candidate
            return 404, _error(
                "invalid_request_error",
                f"No such {route.object_name}: '{object_id}'",
                code="resource_missing",
            )
        return list_objects(objects, route, query)


def _error(kind: str, message: str, **extra: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


def _parse_list_query(query: str) -> dict[str, Any]:
    """`created[gte]=1&limit=3&expand[0]=data.customer` → {"created": {"gte": "1"}, ...}."""
    parameters: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        name, _, rest = key.partition("[")
        if rest:
            parameters.setdefault(name, {})[rest.rstrip("]")] = value
        else:
            parameters[name] = value
    return parameters


_CREATED_TESTS: dict[str, Any] = {
    "eq": lambda at, bound: at == bound,
    "gt": lambda at, bound: at > bound,
    "gte": lambda at, bound: at >= bound,
    "lt": lambda at, bound: at < bound,
    "lte": lambda at, bound: at <= bound,
}


def list_objects(
    objects: list[dict[str, Any]], route: FixtureRoute, query: str
) -> tuple[int, dict[str, Any]]:
    """Stripe's list contract over a fixed set of objects (newest first)."""
    parameters = _parse_list_query(query)
    parameters.pop("expand", None)
    unknown = sorted(set(parameters) - _PAGING_PARAMETERS - route.filters)
    if unknown:
        return 400, _error(
            "invalid_request_error", f"Received unknown parameter: {unknown[0]}", param=unknown[0]
        )
    try:
        limit = int(parameters.get("limit", 10))
        created = parameters.get("created")
        bounds = (
            {"eq": int(created)}
            if isinstance(created, str)
            else {op: int(value) for op, value in (created or {}).items()}
        )
    except ValueError:
        return 400, _error("invalid_request_error", "Invalid integer")
    if not 1 <= limit <= 100 or set(bounds) - set(_CREATED_TESTS):
        return 400, _error("invalid_request_error", "Invalid limit or created range")
    ordered = sorted(objects, key=lambda item: (item["created"], item["id"]), reverse=True)
    selected = [
        item
        for item in ordered
        if all(_CREATED_TESTS[op](item["created"], bound) for op, bound in bounds.items())
        and all(item.get(name) == parameters[name] for name in route.filters & set(parameters))
    ]
    position = {item["id"]: index for index, item in enumerate(ordered)}
    after, before = parameters.get("starting_after"), parameters.get("ending_before")
    for cursor, name in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in position:
            message = f"No such {route.object_name}: '{cursor}'"
            return 400, _error("invalid_request_error", message, param=name)
    if after is not None:
        selected = [item for item in selected if position[item["id"]] > position[after]]
        page = selected[:limit]
    elif before is not None:
        selected = [item for item in selected if position[item["id"]] < position[before]]
        page = selected[-limit:]
    else:
        page = selected[:limit]
    has_more = len(selected) > limit
    return 200, {"object": "list", "data": page, "has_more": has_more, "url": route.path}


def _generated() -> dict[str, str]:
    """Headers of an answer the front makes itself (Stripe sends a Request-Id on each)."""
    return {"Content-Type": "application/json", "Request-Id": f"req_front_{time.monotonic_ns()}"}


def _front_handler(peer: StripePeer) -> type[BaseHTTPRequestHandler]:
    class FrontHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = peer._take_fault(self.command, split.path)
            if fault is not None:
                time.sleep(fault.delay)
                if fault.reset:
                    # SO_LINGER 0 makes close() send RST: the client sees "connection reset".
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault.body is not None:
                    self._reply(200, fault.body, _generated())
                    return
                if fault.status is not None:
                    message = _ERRORS.get(fault.status, _ERRORS[500])
                    headers = _generated()
                    if fault.retry_after is not None:
                        headers["Retry-After"] = f"{fault.retry_after:g}"
                    self._reply(fault.status, json.dumps({"error": message}).encode(), headers)
                    return
            for route in FIXTURE_ROUTES:
                if self.command == "GET" and (
                    split.path == route.path or split.path.startswith(route.path + "/")
                ):
                    status, payload = peer._fixture_answer(route, split.path, split.query)
                    self._reply(status, json.dumps(payload).encode(), _generated())
                    return
            self._forward(body)

        def _forward(self, body: bytes) -> None:
            assert peer._forward is not None
            headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower() not in _HOP_BY_HOP and name.lower() != "accept-encoding"
            }
            try:
                response = peer._forward.request(
                    self.command, self.path, content=body, headers=headers
                )
            except httpx.HTTPError as error:
                payload = json.dumps(_error("api_error", f"localstripe unreachable: {error}"))
                self._reply(502, payload.encode(), _generated())
                return
            passed = {
                name: value
                for name, value in response.headers.items()
                if name.lower() not in _HOP_BY_HOP
            }
            self._reply(response.status_code, response.content, passed)

        def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: localstripe's own log has the requests."""

    return FrontHandler


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_stripe_peer(port: int = 0, *, timeout: float = 20.0, attempts: int = 3) -> StripePeer:
    """Start localstripe (`--from-scratch`) and its front; wait until it answers.

    localstripe binds all interfaces when given only `--port`; tests use 127.0.0.1. With
    port 0 a free port is picked, and another one tried if it was taken in the meantime.
    """
    log_dir = Path(tempfile.mkdtemp(prefix="localstripe-"))
    last_error: StripePeerError | None = None
    for _ in range(attempts if port == 0 else 1):
        chosen = port or _free_port()
        log_path = log_dir / f"localstripe-{chosen}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, "--port", str(chosen), "--from-scratch"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        peer = StripePeer(
            process=process, localstripe_port=chosen, log_path=log_path, _log_file=log_file
        )
        try:
            peer._wait_ready(timeout)
        except StripePeerError as error:
            peer.stop()
            last_error = error
            continue
        peer._start_front()
        # A test run that dies before its fixture's teardown must not leave localstripe behind.
        atexit.register(peer.stop)
        return peer
    assert last_error is not None
    raise last_error
