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
    status: str  # ok | warn (not failing) | stale | fail
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
    if not url:
        raise RuntimeError("REDIS_URL is unset")
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def check_redis() -> CheckResult:
    def probe() -> tuple[str, str]:
        redis_client().ping()
        return "ok", "PING answered"

    return _timed("redis", True, probe)


def check_worker() -> CheckResult:
    def probe() -> tuple[str, str]:
        # The project's app (studio_brain.celery): brain never imports the project package.
        from celery import current_app as app

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


def check_snapshots() -> list[CheckResult]:
    """Latest snapshot age per served studio: stale (older than BRAIN_SNAPSHOT_MAX_AGE) fails."""
    from django.db.models import Max
    from django.utils import timezone

    from brain.models import Studio

    max_age = settings.BRAIN.snapshot_max_age
    allowed = settings.BRAIN.allowed_studios
    studios = Studio.objects.order_by("slug").annotate(latest=Max("snapshots__generated_at"))
    if allowed:
        studios = studios.filter(slug__in=allowed)
    results = []
    now = timezone.now()
    for studio in studios:
        name = f"snapshot:{studio.slug}"
        if studio.latest is None:
            results.append(CheckResult(name, "warn", True, "no snapshot yet"))
            continue
        age = now - studio.latest
        minutes = int(age.total_seconds() // 60)
        extra = {"age_seconds": int(age.total_seconds())}
        if age > max_age:
            detail = f"stale: latest snapshot is {minutes} min old (limit {int(max_age.total_seconds() // 60)} min)"
            results.append(CheckResult(name, "stale", True, detail, extra=extra))
        else:
            results.append(
                CheckResult(name, "ok", True, f"latest snapshot is {minutes} min old", extra=extra)
            )
    return results


def readiness() -> tuple[bool, list[CheckResult]]:
    redis_result = check_redis()
    if redis_result.status == "fail":
        # Redis is the broker: a ping would only sit in kombu's connection retries for
        # seconds and fail anyway, holding the probe (and a web thread) meanwhile.
        worker_result = CheckResult(
            "celery_worker", "fail", True, "not asked: Redis, the broker, is unreachable"
        )
    else:
        worker_result = check_worker()
    results = [check_database(), redis_result, worker_result]
    try:
        results.extend(check_snapshots())
    except Exception as error:  # the database check already reports why
        results.append(
            CheckResult("snapshots", "fail", True, f"{type(error).__name__}: {error}"[:300])
        )
    for extra in EXTRA_CHECKS:
        try:
            results.extend(extra())
        except Exception as error:
            results.append(
                CheckResult(getattr(extra, "__name__", "check"), "fail", True, str(error)[:300])
            )
    ready = all(r.status in ("ok", "warn") for r in results if r.required)
    return ready, results


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readiness_status(results: list[CheckResult]) -> str:
    """ready; "stale" when fresh data is the only thing missing; "degraded" when the Celery
    worker is the only dependency down (pages work, jobs wait in the queue: `make run`
    restarts a crashed worker); "not_ready" when another dependency is down."""
    down = {r.name for r in results if r.required and r.status not in ("ok", "warn", "stale")}
    if not down:
        stale = any(r.required and r.status == "stale" for r in results)
        return "stale" if stale else "ready"
    return "degraded" if down == {"celery_worker"} else "not_ready"


class ReadinessResponse(JsonResponse):
    # Django logs every 5xx answer at error level unless it is marked as logged already
    # (django.utils.log.log_response); a not-ready answer is logged as a warning instead.
    _has_been_logged: bool


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    ready, results = readiness()
    if not ready:
        log.warning(
            "readiness.failed",
            failing=[r.name for r in results if r.status in ("fail", "stale") and r.required],
        )
    response = ReadinessResponse(
        {"status": readiness_status(results), "checks": [r.as_json() for r in results]},
        status=200 if ready else 503,
    )
    response._has_been_logged = True
    return response


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
