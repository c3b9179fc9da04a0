"""localstripe (PyPI, a stateful fake Stripe server) as a subprocess on a loopback port.

`start_stripe_peer()` launches it on a free port, waits until it answers, and returns a
`StripePeer` with `reset()` (`DELETE /_config/data`), `configure_webhook()` and `stop()`.
Point the real client at `peer.url`; `peer.client()` does that for you.

One adjustment at launch: localstripe pickles its whole store to the hard-coded path
`/tmp/localstripe.pickle` after every write. That makes each write O(store size) and makes
parallel instances (other test runs on this machine) overwrite one file. With `--from-scratch`
the file is never read back, so the launcher turns the dump into a no-op; the HTTP API is
untouched. What localstripe covers and does not is listed in tests/peers/README.md.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe

TEST_API_KEY = "sk_test_x"

# Run localstripe's own entry point with the disk dump disabled (see the module docstring).
_LAUNCHER = (
    "import sys\n"
    "from localstripe import resources, server\n"
    "resources.Store.dump_to_disk = lambda self: None\n"
    "sys.argv = ['localstripe', *sys.argv[1:]]\n"
    "server.start()\n"
)


class StripePeerError(RuntimeError):
    """localstripe did not start or did not answer."""


@dataclass
class StripePeer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log_file: Any = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str = TEST_API_KEY) -> stripe.StripeClient:
        """The real client aimed at this peer (no network retries, so faults are visible)."""
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, max_network_retries=0)

    def reset(self) -> None:
        """Delete every object (`DELETE /_config/data`)."""
        self._request("DELETE", "/_config/data")

    def configure_webhook(
        self, webhook_id: str, *, url: str, secret: str, events: list[str] | None = None
    ) -> None:
        """Have localstripe POST signed events to `url` (`POST /_config/webhooks/<id>`)."""
        form = {"url": url, "secret": secret}
        if events:
            form["events"] = ",".join(events)
        self._request("POST", f"/_config/webhooks/{webhook_id}", form)

    def stop(self) -> None:
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

    def _request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> httpx.Response:
        response = httpx.request(
            method,
            self.url + path,
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
                body = self._request("GET", "/v1/balance").json()
            except (httpx.HTTPError, ValueError):
                time.sleep(0.05)
                continue
            if "available" in body:  # the balance object answers once the app is up
                return
        raise StripePeerError(f"localstripe did not answer within {timeout}s:\n{self.log_tail()}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_stripe_peer(port: int = 0, *, timeout: float = 20.0, attempts: int = 3) -> StripePeer:
    """Start localstripe (`--from-scratch`) and wait until it answers on 127.0.0.1.

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
        peer = StripePeer(process=process, port=chosen, log_path=log_path, _log_file=log_file)
        try:
            peer._wait_ready(timeout)
        except StripePeerError as error:
            peer.stop()
            last_error = error
            continue
        return peer
    assert last_error is not None
    raise last_error
