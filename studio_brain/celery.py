"""The Celery app: queues per concern, the beat schedule in code, request ids in task headers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog
from celery import Celery, signals
from celery.schedules import crontab
from kombu import Queue

from brain.embedded import run_environ_apply, worker_ready_announce

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")
# `celery -A studio_brain ...` from a shell, DATABASE_URL / REDIS_URL unset: `make run`'s services.
run_environ_apply(Path(__file__).resolve().parent.parent)

app = Celery("brain")

app.config_from_object("django.conf:settings", namespace="CELERY")

# reads: cloud and device reads; execute: governed writes (never starved by reads);
# default: the rest. Declared here only: call sites and beat entries name no queue.
app.conf.task_queues = (Queue("reads"), Queue("execute"), Queue("default"))
app.conf.task_default_queue = "default"
app.conf.task_routes = {
    "brain.tasks.capture_studio_state": {"queue": "reads"},
    "brain.tasks.capture_all_studios": {"queue": "reads"},
    "brain.tasks.daily_snapshots": {"queue": "reads"},
    "brain.tasks_connectors.poll_all_connectors": {"queue": "reads"},
    "brain.tasks.reconcile_studio": {"queue": "reads"},
    "brain.tasks_connectors.poll_studio_connectors": {"queue": "reads"},
    "brain.tasks_connectors.check_connector": {"queue": "reads"},
    "governance.tasks.run_execution": {"queue": "execute"},
    "governance.tasks.reconcile_executions": {"queue": "execute"},
    "brain.tasks_notify.fan_out": {"queue": "default"},
    "brain.tasks_notify.deliver": {"queue": "default"},
    "brain.tasks_notify.dispatch": {"queue": "default"},
    "brain.tasks_notify.scan": {"queue": "default"},
    "governance.tasks.notify_expiring_proposals": {"queue": "default"},
}
# Task modules outside an app's tasks.py (autodiscovery only finds tasks.py).
app.conf.imports = ("brain.tasks_connectors", "brain.tasks_notify")
app.conf.beat_schedule = {
    "poll-connectors": {
        "task": "brain.tasks_connectors.poll_all_connectors",
        "schedule": 60.0,  # replaced by BRAIN_CONNECTOR_POLL_INTERVAL once settings load
    },
    "prune-connector-health": {
        "task": "brain.tasks_connectors.prune_connector_health",
        "schedule": crontab(hour="3", minute="29"),
    },
    "prune-job-runs": {
        "task": "brain.tasks.prune_job_runs",
        "schedule": crontab(hour="3", minute="17"),
    },
    "audit-digest": {
        "task": "governance.tasks.audit_digest",
        "schedule": crontab(hour="0", minute="7"),
    },
    "reconcile-executions": {
        "task": "governance.tasks.reconcile_executions",
        "schedule": 60.0,
    },
    "expire-proposals": {
        "task": "governance.tasks.expire_proposals",
        "schedule": crontab(minute="*/5"),
    },
    # Notifications: due digests and lost deliveries every minute; the scans every 5 minutes.
    "notify-dispatch": {
        "task": "brain.tasks_notify.dispatch",
        "schedule": 60.0,
    },
    "notify-scan": {
        "task": "brain.tasks_notify.scan",
        "schedule": crontab(minute="*/5"),
    },
    "notify-expiring-proposals": {
        "task": "governance.tasks.notify_expiring_proposals",
        "schedule": crontab(minute="*/5"),
    },
}
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule_from_settings(sender: Celery, **_: Any) -> None:
    """Beat periods from the config contract (read here, not at import: settings import brain)."""
    from django.conf import settings

    sender.conf.beat_schedule["capture-all-studios"] = {
        "task": "brain.tasks.capture_all_studios",
        "schedule": settings.BRAIN.job_interval.total_seconds(),
    }
    sender.conf.beat_schedule["poll-connectors"]["schedule"] = (
        settings.BRAIN.connector_poll_interval.total_seconds()
    )
    # Hourly, so each studio's first run after its local midnight takes the daily snapshot.
    sender.conf.beat_schedule["daily-snapshots"] = {
        "task": "brain.tasks.daily_snapshots",
        "schedule": crontab(minute="5"),
    }


# Under `make run`, the worker tells the supervisor when it takes tasks.
signals.worker_ready.connect(worker_ready_announce)

REQUEST_ID_TASK_HEADER = "brain_request_id"


@signals.before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Put the publishing context's request id into the task message headers."""
    bound = structlog.contextvars.get_contextvars()
    request_id = bound.get("request_id")
    if headers is not None and request_id and REQUEST_ID_TASK_HEADER not in headers:
        headers[REQUEST_ID_TASK_HEADER] = str(request_id)


@signals.task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """Bind the carried request id (or a fresh one) and the task id to every line the task logs."""
    from brain.context import accept_request_id

    structlog.contextvars.clear_contextvars()
    carried = getattr(task.request, REQUEST_ID_TASK_HEADER, None) if task is not None else None
    structlog.contextvars.bind_contextvars(request_id=accept_request_id(carried), job_id=task_id)


@signals.task_postrun.connect
def _clear_task_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


@signals.setup_logging.connect
def _use_django_logging(**_: Any) -> None:
    """Keep Django's structlog configuration instead of Celery's own log format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
