"""Queues are declared once, in ``studio_brain/celery.py``'s ``task_routes``: each task lands on its
concern's queue (docs/architecture.md's scale plan), and no call site or beat entry names a queue."""

import ast
from pathlib import Path

import pytest

from studio_brain.celery import app

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_QUEUES = {
    "brain.tasks.capture_all_studios": "reads",
    "brain.tasks.capture_studio_state": "reads",
    "brain.tasks.daily_snapshots": "reads",
    "brain.tasks.log_probe": "default",
    "brain.tasks.prune_job_runs": "default",
    "brain.tasks.reconcile_studio": "reads",
    "brain.tasks_connectors.check_connector": "reads",
    "brain.tasks_connectors.poll_all_connectors": "reads",
    "brain.tasks_connectors.poll_studio_connectors": "reads",
    "brain.tasks_connectors.prune_connector_health": "default",
    "brain.tasks_notify.deliver": "default",
    "brain.tasks_notify.dispatch": "default",
    "brain.tasks_notify.fan_out": "default",
    "brain.tasks_notify.scan": "default",
    "governance.tasks.audit_digest": "default",
    "governance.tasks.expire_proposals": "default",
    "governance.tasks.notify_expiring_proposals": "default",
    "governance.tasks.reconcile_executions": "execute",
    "governance.tasks.run_execution": "execute",
}


def routed_queue(task_name: str) -> str:
    """The queue a message for ``task_name`` is published to, as Celery's router decides."""
    return app.amqp.router.route({}, task_name, (), {})["queue"].name


def our_tasks() -> set[str]:
    app.loader.import_default_modules()
    return {name for name in app.tasks if name.startswith(("brain.", "governance."))}


def test_every_task_of_ours_has_an_expected_queue():
    assert our_tasks() == set(EXPECTED_QUEUES)


@pytest.mark.parametrize(("task_name", "queue"), sorted(EXPECTED_QUEUES.items()))
def test_each_task_routes_to_its_queue(task_name, queue):
    assert routed_queue(task_name) == queue


def test_the_beat_schedule_names_no_queue():
    app.loader.import_default_modules()
    assert app.conf.beat_schedule  # the schedule is there to check
    with_queue = [name for name, entry in app.conf.beat_schedule.items() if entry.get("options")]
    assert with_queue == []


def queue_keywords(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"apply_async", "send_task", "signature", "s"}
        and any(keyword.arg == "queue" for keyword in node.keywords)
    ]


def test_no_call_site_names_a_queue():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("brain", "governance", "cockpit", "connectors")
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in queue_keywords(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []


def test_the_scan_sees_a_queue_keyword():
    tree = ast.parse("task.apply_async(args=(1,), queue='reads')\ntask.apply_async(args=(1,))\n")
    assert queue_keywords(tree) == [1]
