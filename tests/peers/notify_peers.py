"""Notification peers on loopback: a real SMTP server (aiosmtpd) and a webhook receiver that
checks the HMAC signature the way docs/notifications.md tells receivers to.

The receiver's check is written out here, independently of ``connectors.webhook``, so a
mistake in the sender's signing fails the tests instead of agreeing with itself.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

WAIT_SECONDS = 20.0
# aiosmtpd logs every connection at INFO; the tests read their own log lines, not the peer's.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return " ".join(str(self.message["Subject"]).split())  # unfolded

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        return body.get_content() if body is not None else ""


class _Handler:
    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.peer.refuse_with:
            return self.peer.refuse_with
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.peer.lock:
            self.peer.mails.append(
                ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message)  # type: ignore[arg-type]
            )
            self.peer.last_received_at = time.perf_counter()
        return "250 Message accepted for delivery"


class SmtpPeer:
    """aiosmtpd in its own thread; ``mails`` is every message accepted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self.refuse_with = ""  # e.g. "451 try again later"
        self.last_received_at = 0.0
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpPeer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def reset(self) -> None:
        with self.lock:
            self.mails.clear()
        self.refuse_with = ""

    def wait_for(self, count: int) -> list[ReceivedMail]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.mails) >= count:
                    return list(self.mails)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.mails)} of {count} mails arrived in {WAIT_SECONDS:g} s")


@dataclass
class WebhookRequest:
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


def signature_is_valid(secret: str, headers: dict[str, str], body: bytes, *, now: float) -> bool:
    """What a receiver does: recompute HMAC-SHA256 over "<timestamp>.<body>", compare in
    constant time, and refuse a timestamp more than five minutes away."""
    timestamp = headers.get("x-studiobrain-timestamp", "")
    given = headers.get("x-studiobrain-signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(given, "sha256=" + expected.hexdigest())


@dataclass
class WebhookPeer:
    secret: str = "whsec-test-0123456789abcdef"
    status: int = 200  # what it answers to a correctly signed request
    requests: list[WebhookRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        peer = self
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                valid = signature_is_valid(peer.secret, headers, body, now=time.time())
                with peer.lock:
                    peer.requests.append(WebhookRequest(headers, body, valid, time.monotonic()))
                status = peer.status if valid else 401
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/studio"

    def start(self) -> WebhookPeer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
        self.status = 200

    def wait_for(self, count: int) -> list[WebhookRequest]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.requests)} of {count} webhook calls arrived")
