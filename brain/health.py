"""Liveness, readiness and metrics endpoints.

/healthz answers from the process alone. /readyz asks each dependency, reports each
check with its status and latency, and answers 503 when a required check fails.
/metrics is Prometheus text, served to loopback callers or to a bearer of BRAIN_METRICS_TOKEN.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
import structlog
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = structlog.stdlib.get_logger("brain.health")


@dataclass
class CheckResult:
    name: str
    status: str  # ok | fail | warn | skipped
    required: bool
    detail: str = ""
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "required": self.required,
            "detail": self.detail,
            "latency_ms": round(self.latency_ms, 1),
            **self.extra,
        }


def _timed(name: str, required: bool, probe: Callable[[], tuple[str, str]]) -> CheckResult:
    started = time.perf_counter()
    try:
        status, detail = probe()
    except Exception as error:  # a readiness probe reports failure; it never raises
        status, detail = "fail", f"{type(error).__name__}: {error}"[:300]
    return CheckResult(name, status, required, detail, (time.perf_counter() - started) * 1000)


def check_database() -> CheckResult:
    def probe() -> tuple[str, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok", "SELECT 1 answered"

    return _timed("database", True, probe)


def redis_client() -> redis.Redis:
    url = settings.REDIS_URL
    if not url:  # required by the config contract; a probe reports this as a failure
        raise RuntimeError("REDIS_URL is unset")
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def check_redis() -> CheckResult:
    def probe() -> tuple[str, str]:
        redis_client().ping()
        return "ok", "PING answered"

    return _timed("redis", True, probe)


def check_worker() -> CheckResult:
    def probe() -> tuple[str, str]:
        from brain.celery import app

        timeout = settings.BRAIN.readyz_worker_timeout.total_seconds()
        # A connection of its own, not one from Celery's broker pool: concurrent probes
        # while no worker answers otherwise drain the pool (limit 10) and then block forever.
        with app.connection_for_write() as connection:
            replies = app.control.ping(timeout=timeout, limit=1, connection=connection)
        if replies:
            return "ok", f"{next(iter(replies[0]))} replied"
        return "fail", f"no Celery worker replied within {timeout:g} s"

    return _timed("celery_worker", True, probe)


# Later capabilities (snapshots, connectors) append their own checks here.
ReadinessCheck = Callable[[], list[CheckResult]]
EXTRA_CHECKS: list[ReadinessCheck] = []


def register_readiness_check(check: ReadinessCheck) -> ReadinessCheck:
    EXTRA_CHECKS.append(check)
    return check


def readiness() -> tuple[bool, list[CheckResult]]:
    results = [check_database(), check_redis(), check_worker()]
    for extra in EXTRA_CHECKS:
        try:
            results.extend(extra())
        except Exception as error:
            results.append(
                CheckResult(getattr(extra, "__name__", "check"), "fail", True, str(error)[:300])
            )
    ready = all(r.status != "fail" for r in results if r.required)
    return ready, results


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    ready, results = readiness()
    if not ready:
        log.warning(
            "readiness.failed",
            failing=[r.name for r in results if r.status == "fail" and r.required],
        )
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": [r.as_json() for r in results]},
        status=200 if ready else 503,
    )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.BRAIN.metrics_token
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    # REMOTE_ADDR is the socket peer; a forwarded header never makes a caller loopback.
    allowed = _is_loopback(request.META.get("REMOTE_ADDR", "")) and not request.headers.get(
        "X-Forwarded-For"
    )
    if not allowed and token and supplied and hmac.compare_digest(supplied, token):
        allowed = True
    if not allowed:
        return JsonResponse(
            {
                "code": "FORBIDDEN",
                "message": "metrics are served to loopback or with the metrics token",
            },
            status=403,
        )
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
