"""Notification tasks: fan-out and delivery (queued by ``brain.notify``), the minute dispatcher
and the scan (beat). Each takes ids, calls one service; queues come from ``task_routes``."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from brain.jobs import run_job
from brain.models import JobRun
from brain.notify.scan import notify_scan
from brain.notify.services import notify_deliver, notify_dispatch, notify_fan_out


@shared_task(name="brain.tasks_notify.fan_out")
def notify_fan_out_task(event_id: int) -> None:
    notify_fan_out(event_id=event_id)


@shared_task(name="brain.tasks_notify.deliver", acks_late=True)
def notify_deliver_task(delivery_ids: list[int]) -> None:
    """Send these deliveries. Late ack: a worker that dies mid-send has the message delivered
    again; rows already sent are skipped, and a claimed row waits out its lease."""
    notify_deliver(delivery_ids=list(delivery_ids))


@shared_task(name="brain.tasks_notify.dispatch", bind=True)
def notify_dispatch_task(self: Any) -> None:
    """Due digests, and re-queue what a lost task message left unsent."""

    def body(run: JobRun) -> dict[str, Any]:
        return notify_dispatch()

    run_job("notify_dispatch", body, job_id=self.request.id)


@shared_task(name="brain.tasks_notify.scan", bind=True)
def notify_scan_task(self: Any) -> None:
    """Connectors down for more than 15 minutes, stale snapshots."""

    def body(run: JobRun) -> dict[str, Any]:
        return notify_scan()

    run_job("notify_scan", body, job_id=self.request.id)
