"""Connector jobs: the beat poll of every enabled connector, "check now", pruning, and the
connectors' lines in /readyz.

This lives in brain (which may import connectors) because it runs through brain's job
runner: each studio's poll is a JobRun, single-flight per studio across all workers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from brain.health import CheckResult, register_readiness_check
from brain.jobs import run_job
from brain.models import JobRun
from connectors.models import ConnectorConfig
from connectors.sdk.base import CallContext
from connectors.selectors import connector_latest_health, studios_with_enabled_connectors
from connectors.services import (
    connector_check_clear_pending,
    connector_health_prune,
    connector_poll,
)

log = structlog.stdlib.get_logger("brain.tasks_connectors")

POLL_JOB = "connectors.poll"
CHECK_JOB = "connectors.check"


@shared_task(name="brain.tasks_connectors.poll_all_connectors")
def poll_all_connectors() -> None:
    """Beat entry: one poll task per studio that has enabled connectors (routed to reads)."""
    for studio_id in studios_with_enabled_connectors():
        poll_studio_connectors.apply_async(args=(studio_id,))


@shared_task(name="brain.tasks_connectors.poll_studio_connectors", bind=True)
def poll_studio_connectors(self: Any, studio_id: int) -> None:
    def body(run: JobRun) -> dict[str, Any]:
        context = CallContext.current()
        results = {}
        for config in ConnectorConfig.objects.filter(studio_id=studio_id, enabled=True).order_by(
            "name"
        ):
            results[config.name] = connector_poll(config=config, context=context).as_json()
        return {"connectors": results}

    run_job(POLL_JOB, body, studio_id=studio_id, job_id=self.request.id)


@shared_task(name="brain.tasks_connectors.check_connector", bind=True)
def check_connector(self: Any, config_id: int) -> None:
    """An operator's "check now": one connector, recorded as a JobRun of its studio."""
    config = ConnectorConfig.objects.filter(pk=config_id).first()
    if config is None:
        return

    def body(run: JobRun) -> dict[str, Any]:
        return {config.name: connector_poll(config=config, context=CallContext.current()).as_json()}

    try:
        run_job(CHECK_JOB, body, studio_id=config.studio_id, job_id=self.request.id)
    finally:
        connector_check_clear_pending(config_id=config_id)


@shared_task(name="brain.tasks_connectors.prune_connector_health", bind=True)
def prune_connector_health(self: Any) -> None:
    """Health samples are derived: drop those older than the retention period."""

    def body(run: JobRun) -> dict[str, Any]:
        cutoff = timezone.now() - timedelta(days=settings.BRAIN.retention_days)
        return {"deleted": connector_health_prune(before=cutoff), "cutoff": cutoff.isoformat()}

    run_job("connectors.prune_health", body, job_id=self.request.id)


def connector_readiness() -> list[CheckResult]:
    """One line per enabled connector, from its newest health sample (no device I/O here).

    Not required: the cloud app stays authoritative and the cockpit must stay up precisely
    to show a connector outage, so a down hub makes /readyz say so without failing it.
    """
    stale_after = settings.BRAIN.connector_poll_interval * 3
    now = timezone.now()
    results = []
    for config, sample in connector_latest_health():
        name = f"connector:{config.studio.slug}/{config.name}"
        if sample is None:
            results.append(
                CheckResult(name, "warn", False, "not checked yet", extra={"kind": config.kind})
            )
            continue
        status = {"healthy": "ok", "degraded": "warn", "down": "fail"}[sample.availability]
        detail = sample.detail or sample.availability
        if sample.error_code:
            detail = f"{sample.error_code}: {sample.error_message}"[:300]
        if now - sample.checked_at > stale_after and status == "ok":
            status, detail = (
                "warn",
                f"last checked {int((now - sample.checked_at).total_seconds())} s ago",
            )
        results.append(
            CheckResult(
                name,
                status,
                False,
                detail,
                sample.latency_ms,
                extra={
                    "kind": config.kind,
                    "availability": sample.availability,
                    "checked_at": sample.checked_at.isoformat(),
                },
            )
        )
    return results


register_readiness_check(connector_readiness)
