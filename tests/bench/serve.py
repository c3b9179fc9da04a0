"""Serve a Django settings module with runserver's server code, tuned only to be measurable.

    DJANGO_SETTINGS_MODULE=... python -m tests.bench.serve PORT

Django's threaded WSGIServer and its HTTP/1.1 request handler, without runserver's
start-up checks (so a settings module needs no database). Two changes, applied to every
settings module alike, keep the comparison about Django rather than the socket:

- TCP_NODELAY on each connection: the handler writes headers and body separately, and
  on a keep-alive connection Nagle's algorithm with delayed ACKs would add ~40 ms to
  every response, whatever the app does.
- A response without Content-Length gets one (by joining its body): runserver closes such
  connections, and only the project's CommonMiddleware sets the header, so the bare app
  would otherwise pay a new TCP connection per request. A production server would use
  chunked encoding and keep the connection.
"""

from __future__ import annotations

import socket
import socketserver
import sys
from collections.abc import Callable, Iterable
from typing import Any

from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class NoDelayRequestHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def with_content_length(app: WSGIApp) -> WSGIApp:
    def framed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers, exc_info]
            return lambda data: None

        result = app(environ, capture)
        status, headers, exc_info = captured
        if any(name.lower() == "content-length" for name, _ in headers):
            start_response(status, headers, exc_info)
            return result
        body = b"".join(result)
        close = getattr(result, "close", None)
        if close is not None:
            close()
        start_response(status, [*headers, ("Content-Length", str(len(body)))], exc_info)
        return [body]

    return framed


def main() -> None:
    port = int(sys.argv[1])
    server = ThreadedServer(("127.0.0.1", port), NoDelayRequestHandler)
    server.set_app(with_content_length(get_wsgi_application()))
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
