"""The Celery app: queues per concern, the beat schedule in code, request ids in task headers."""

from __future__ import annotations

import os
from typing import Any

import structlog
from celery import Celery, signals
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brain.settings")

app = Celery("brain")
app.config_from_object("django.conf:settings", namespace="CELERY")

# reads: cloud and device reads; execute: governed writes (never starved by reads);
# default: the rest.
app.conf.task_queues = (Queue("reads"), Queue("execute"), Queue("default"))
app.conf.task_default_queue = "default"
app.conf.task_routes = {
    "brain.jobs.*": {"queue": "default"},
}
app.conf.beat_schedule = {
    "prune-job-runs": {
        "task": "brain.tasks.prune_job_runs",
        "schedule": crontab(hour="3", minute="17"),
        "options": {"queue": "default"},
    },
}
app.autodiscover_tasks()

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
    """Bind the carried request id (or a fresh one) and the task id to every log line of the
    task."""
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
