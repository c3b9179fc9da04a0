"""What each middleware costs on /healthz: a profile, not a bench (``__main__`` skips it).

    python -m tests.bench.profile_middleware [ROUNDS]

Builds one Django handler per prefix of ``settings.MIDDLEWARE`` (none, the first one,
the first two, ... all; a prefix keeps each middleware's dependencies in front of it),
calls each in-process with the same /healthz request, interleaved over ROUNDS rounds,
and keeps the lowest CPU time per request of each. The difference between consecutive
prefixes is what that middleware adds. CPU time (not wall time) so that other work on
the machine does not show up as middleware cost.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.update(
    DJANGO_SETTINGS_MODULE="studio_brain.settings",
    DJANGO_DEBUG="false",
    BRAIN_DEPLOYMENT="development",
    DJANGO_SECRET_KEY="bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
)
os.environ.pop("DJANGO_SECRET_KEY_FILE", None)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/studio_brain")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.test import override_settings  # noqa: E402

BATCH = 500


def _environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/healthz",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    if not status.startswith("200"):
        raise RuntimeError(f"/healthz answered {status}")


def _cpu_us_per_request(handler: Callable[..., Any], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        response = handler(_environ(), _start_response)
        b"".join(response)
        response.close()
    return (time.process_time() - started) / count * 1e6


def main(rounds: int) -> None:
    stack = list(settings.MIDDLEWARE)
    handlers = []
    for size in range(len(stack) + 1):
        with override_settings(MIDDLEWARE=stack[:size]):
            handlers.append(WSGIHandler())
    for handler in handlers:
        _cpu_us_per_request(handler, 300)
    best = [float("inf")] * len(handlers)
    for _ in range(rounds):
        for index, handler in enumerate(handlers):
            best[index] = min(best[index], _cpu_us_per_request(handler, BATCH))
    print("CPU us/request  added  middleware")
    for index, cost in enumerate(best):
        added = cost - best[index - 1] if index else 0.0
        name = stack[index - 1] if index else "(no middleware: view + handler)"
        print(f"{cost:14.1f}  {added:+5.1f}  {name}")
    print(f"middleware total: {best[-1] - best[0]:.1f} us/request over {best[0]:.1f} us bare")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
