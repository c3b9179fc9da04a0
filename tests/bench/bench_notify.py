"""Notification fan-out: 1,000 events to 50 staff, time to the last email on loopback SMTP.

The events are critical (emailed at once), fanned out and delivered by a real Celery worker to
a loopback SMTP server; baseline: the same number of messages sent with Django's
``send_mass_mail`` over one connection (no outbox, no fan-out, no delivery log).

Runs against its own database (``<DATABASE_URL's name>_notify``). The SMTP server (aiosmtpd)
runs in its own process and only counts messages, so neither side pays for parsing them.

    python -m tests.bench notify
    python -m tests.bench.bench_notify [--events N] [--staff N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from typing import Any

from tests.bench.benchdb import setup_django
from tests.peers.notify_peers import free_port

WAIT_SECONDS = 900.0


def _smtp_server(port: int, count: Any, ready: Any) -> None:
    """A counting SMTP server (its own process: the worker and the sender keep the GIL)."""
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def _wait_for(count: Any, target: int) -> float:
    deadline = time.monotonic() + WAIT_SECONDS
    while count.value < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count.value} of {target} mails arrived")
        time.sleep(0.005)
    return time.perf_counter()


def main() -> list[str]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--staff", type=int, default=50)
    options = parser.parse_args()

    port = free_port()
    context = multiprocessing.get_context("spawn")
    count, ready = context.Value("l", 0), context.Event()
    server = context.Process(target=_smtp_server, args=(port, count, ready), daemon=True)
    server.start()
    ready.wait(30)
    os.environ["BRAIN_EMAIL_HOST"], os.environ["BRAIN_EMAIL_PORT"] = "127.0.0.1", str(port)
    setup_django("notify")
    try:
        return _run(options, count)
    finally:
        server.terminate()


def _run(options: argparse.Namespace, count: Any) -> list[str]:
    from celery.contrib.testing.worker import start_worker
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mass_mail
    from django.db import transaction

    from brain.models import Membership, Role, Studio
    from brain.notify import EventKind, Severity, emit
    from brain.notify.models import DeliveryStatus, NotificationDelivery
    from studio_brain.celery import app
    from tests.factories import StudioFactory

    studio: Studio = StudioFactory(slug="bench-notify", name="Bench Notify")
    user_model = get_user_model()
    users = [
        user_model(username=f"staff{n}", email=f"staff{n}@bench.example", password="!")
        for n in range(options.staff)
    ]  # "!": an unusable password, without hashing 50 of them
    users = user_model.objects.bulk_create(users)
    Membership.objects.bulk_create(
        Membership(user=user, studio=studio, role=Role.APPROVER) for user in users
    )
    total = options.events * options.staff

    # Baseline: the same number of plain messages, one connection, no bookkeeping.
    datatuple = [
        (f"Bench Notify: event {e}", "Kill switch engaged.\n", None, [user.email])
        for e in range(options.events)
        for user in users
    ]
    count.value = 0
    started = time.perf_counter()
    send_mass_mail(datatuple)
    baseline_s = _wait_for(count, total) - started

    # Fan-out through the outbox and a real worker (solo pool: one process, like the baseline).
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("default")
    count.value = 0
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        started = time.perf_counter()
        with transaction.atomic():
            for e in range(options.events):
                emit(
                    studio_id=studio.pk,
                    kind=EventKind.KILL_SWITCH_ENGAGED,
                    severity=Severity.CRITICAL,
                    title=f"Kill switch engaged: bench {e}",
                    body="By staff:bench: load test.",
                    link_path="/s/bench-notify/policy/#kill-switches",
                    min_role=Role.OPERATOR,
                )
        emitted_s = time.perf_counter() - started
        fan_out_s = _wait_for(count, total) - started
        # The delivery log is written after the last send: wait for it to say so.
        deadline = time.monotonic() + 60
        while NotificationDelivery.objects.filter(status=DeliveryStatus.SENT).count() < total:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    sent = NotificationDelivery.objects.filter(status=DeliveryStatus.SENT).count()
    lost = NotificationDelivery.objects.exclude(status=DeliveryStatus.SENT).count()
    return [
        f"fan-out: {options.events} events x {options.staff} staff = {total} emails, "
        f"last accepted by the SMTP server after {fan_out_s:.1f} s ({total / fan_out_s:,.0f}/s); "
        f"emitting the events took {emitted_s:.2f} s",
        f"baseline send_mass_mail of {total} messages: {baseline_s:.1f} s "
        f"({total / baseline_s:,.0f}/s)",
        f"ratio fan-out / baseline: {fan_out_s / baseline_s:.2f}x the time "
        f"(outbox, recipients, one delivery row per email, a Celery task per event)",
        f"delivery log: {sent} sent, {lost} not sent",
    ]


if __name__ == "__main__":
    for line in main():
        print(line)
