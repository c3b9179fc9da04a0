"""Benchmarks of the audit chain and the approval queue. ``main()`` prints the figures.

Runs against its own database (``<DATABASE_URL's name>_bench``, dropped and recreated) so
it never touches development or test data:

1. append: 8 concurrent writers appending to one studio's chain (and to 8 studios'
   chains) vs plain INSERTs of the same rows into an unchained copy of the table;
   the chain is verified afterwards. Goal: throughput ratio >= 0.5.
2. verify: ``verify_chain`` over 1,000,000 events bulk-loaded with COPY (correct hashes)
   vs ``sha256sum`` over the same rows exported as text. Goal: >= 100,000 events/s.
3. queue: the Proposals page with 10,000 pending proposals vs the Django admin
   changelist of the same rows: query count (constant) and server time. Goal: faster.

    python -m tests.bench.bench_audit [--events N] [--proposals N] [--appends N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from tests.bench.benchdb import setup_django

WRITERS = 8
COLUMNS = (
    "studio_id, sequence, occurred_at, actor_type, actor_id, action, target_type, target_id, "
    "approval_state, reason_code, input_hash, output_hash, request_id, metadata_json, prev_hash, "
    "hash"
)


def _setup_django() -> None:
    setup_django("bench")


# 1. Appends -------------------------------------------------------------------------------


def _run_writers(work: Any, per_writer: int) -> float:
    """Run ``work(index, n)`` in 8 writer processes (as web/worker processes would); seconds taken.

    Processes, not threads: threads of one interpreter would queue on the GIL while one of
    them holds the chain lock, which measures Python's scheduler rather than the chain.
    """
    import multiprocessing

    from django.db import connections

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS + 1)
    failures = context.Queue()

    def writer(index: int) -> None:
        try:
            barrier.wait()
            for n in range(per_writer):
                work(index, n)
        except BaseException as error:
            failures.put(repr(error))
        finally:
            connections.close_all()

    connections.close_all()  # children must not share the parent's socket
    processes = [context.Process(target=writer, args=(i,)) for i in range(WRITERS)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    if not failures.empty():
        raise RuntimeError(failures.get())
    return elapsed


def bench_append(per_writer: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from connectors.sdk.canonical import canonical_json
    from governance.actors import Actor
    from governance.audit import audit_append, verify_chain
    from tests.factories import StudioFactory

    studios = [StudioFactory(slug=f"bench-{i}", name=f"Bench {i}") for i in range(WRITERS)]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_plain_audit (LIKE governance_auditevent INCLUDING DEFAULTS)"
        )
        cursor.execute("CREATE SEQUENCE bench_plain_audit_id")
    total = WRITERS * per_writer
    metadata = {"note": "bench", "n": 1}
    sample = "a" * 64
    now = dt.datetime.now(dt.UTC)

    def plain(index: int, n: int) -> None:
        # The same row audit_append writes, inserted as one autocommitted statement.
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO bench_plain_audit (id, {COLUMNS}) "  # noqa: S608 (constant columns)
                "VALUES (nextval('bench_plain_audit_id'), %s, %s, %s, 'system', %s, 'bench.append',"
                " "
                "'proposal', %s, 'pending_approval', 'ALLOWED', %s, '', '', %s, %s, %s)",
                [
                    studios[0].pk,
                    index * per_writer + n + 1,
                    now,
                    f"writer-{index}",
                    str(n),
                    sample,
                    canonical_json(metadata).decode(),
                    sample,
                    sample,
                ],
            )

    def chained(studio_of: Any) -> Any:
        def work(index: int, n: int) -> None:
            with transaction.atomic():
                audit_append(
                    studio=studio_of(index),
                    actor=Actor.system(f"writer-{index}"),
                    action="bench.append",
                    target_type="proposal",
                    target_id=n,
                    approval_state="pending_approval",
                    reason_code="ALLOWED",
                    input_hash=sample,
                    metadata=metadata,
                )

        return work

    def plain_in_transaction(index: int, n: int) -> None:
        # The shape every audited change has: its own transaction around the row.
        with transaction.atomic():
            plain(index, n)

    plain_s = _run_writers(plain, per_writer)
    plain_tx_s = _run_writers(plain_in_transaction, per_writer)
    one_chain_s = _run_writers(chained(lambda index: studios[0].pk), per_writer)
    many_chains_s = _run_writers(chained(lambda index: studios[index].pk), per_writer)
    reports = [verify_chain(studio.pk) for studio in studios]
    assert all(report.ok for report in reports), [r.describe() for r in reports if not r.ok]
    assert reports[0].count == total + per_writer, reports[0].count  # one chain + its own writer
    return {
        "appends": total,
        "plain_per_s": total / plain_s,
        "one_chain_per_s": total / one_chain_s,
        "eight_chains_per_s": total / many_chains_s,
        "plain_tx_per_s": total / plain_tx_s,
        "ratio_one_chain": plain_s / one_chain_s,
        "ratio_one_chain_tx": plain_tx_s / one_chain_s,
        "ratio_eight_chains_tx": plain_tx_s / many_chains_s,
        "ratio_eight_chains": plain_s / many_chains_s,
        "chains_verified": len(reports),
    }


# 2. Verify --------------------------------------------------------------------------------


def bulk_load_chain(studio_id: int, count: int) -> str:
    """COPY ``count`` events with correct hashes into a studio's chain; returns the head hash."""
    from django.db import connection

    from connectors.sdk.canonical import canonical_json, format_time
    from governance.audit import GENESIS_HASH, event_fields, link_hash
    from governance.models import AuditChainHead

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    prev = GENESIS_HASH
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY governance_auditevent ({COLUMNS}) FROM STDIN") as copy,
    ):
        for sequence in range(1, count + 1):
            occurred = start + dt.timedelta(milliseconds=sequence * 37)
            proposal = str(sequence // 4)
            metadata = {
                "capability": "firestore.ops_note.append",
                "risk": "medium",
                "approvals_required": 1,
            }
            fields = event_fields(
                studio_id=studio_id,
                sequence=sequence,
                occurred_at=format_time(occurred),
                actor_type="staff",
                actor_id=str(sequence % 7 + 1),
                action="proposal.submitted",
                target_type="proposal",
                target_id=proposal,
                approval_state="pending_approval",
                reason_code="ALLOWED",
                input_hash="b" * 64,
                output_hash="",
                request_id=f"req{sequence:012d}",
                metadata=metadata,
            )
            digest = link_hash(fields, prev)
            copy.write_row(
                (
                    studio_id,
                    sequence,
                    occurred,
                    "staff",
                    fields["actor_id"],
                    "proposal.submitted",
                    "proposal",
                    proposal,
                    "pending_approval",
                    "ALLOWED",
                    "b" * 64,
                    "",
                    fields["request_id"],
                    canonical_json(metadata).decode(),
                    prev,
                    digest,
                )
            )
            prev = digest
    raw.commit()
    AuditChainHead.objects.update_or_create(
        studio_id=studio_id, defaults={"sequence": count, "hash": prev}
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE governance_auditevent")
    return prev


def bench_verify(count: int) -> dict[str, Any]:
    from django.db import connection

    from governance.audit import verify_chain
    from tests.factories import StudioFactory

    studio = StudioFactory(slug="bench-verify", name="Bench verify")
    started = time.perf_counter()
    head = bulk_load_chain(studio.pk, count)
    load_s = time.perf_counter() - started
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        report = verify_chain(studio.pk)
        runs.append(time.perf_counter() - started)
        assert report.ok and report.count == count and report.head_hash == head, report.describe()
    verify_s = min(runs)
    with tempfile.NamedTemporaryFile(suffix=".tsv") as export:
        raw = connection.connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(
                f"COPY (SELECT {COLUMNS} FROM governance_auditevent "  # noqa: S608 (an int id only)
                f"WHERE studio_id = {int(studio.pk)} ORDER BY sequence) TO STDOUT"
            ) as copy,
        ):
            for block in copy:
                export.write(block)
        export.flush()
        size = os.path.getsize(export.name)
        started = time.perf_counter()
        subprocess.run(["sha256sum", export.name], check=True, capture_output=True)
        sha_s = time.perf_counter() - started
    return {
        "events": count,
        "load_s": load_s,
        "verify_s": verify_s,
        "verify_per_s": count / verify_s,
        "export_bytes": size,
        "sha256sum_s": sha_s,
        "sha256sum_per_s": count / sha_s,
    }


# 3. Queue page ----------------------------------------------------------------------------


def _timed_get(client: Any, url: str, repeat: int = 5) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    status = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        queries, status = len(captured), response.status_code
    return statistics.median(times), queries, status


def bench_queue(count: int) -> dict[str, Any]:
    from django.test import Client
    from django.utils import timezone

    from brain.models import Role
    from governance.models import Proposal
    from tests.factories import MembershipFactory, ProposalFactory, StudioFactory, UserFactory

    studio = StudioFactory(slug="bench-queue", name="Bench queue")
    user = UserFactory(
        username="bench-admin",
        email="bench@example.com",
        password="bench-password-123",
        superuser=True,
    )
    MembershipFactory(user=user, studio=studio, role=Role.ADMIN)
    now = timezone.now()
    note = {"batch_id": "b-1", "note": "Bisque moved to kiln 2"}

    def make(i: int) -> Proposal:
        # Pending agent proposals as the queue holds them; the factory's defaults are the
        # rest (medium risk, one approval, a 72-hour deadline).
        return ProposalFactory.build(
            studio=studio,
            input=note,
            summary=f"Add an ops note to batch b-{i}",
            requested_by_id=f"bot-{i % 5}",
            created_at=now - dt.timedelta(minutes=i),
        )

    def seed(total: int) -> None:
        existing = Proposal.objects.filter(studio=studio).count()
        Proposal.objects.bulk_create([make(i) for i in range(existing, total)], batch_size=2000)

    client = Client()
    client.force_login(user)
    queue_url = f"/s/{studio.slug}/proposals/"
    from django.conf import settings

    admin_url = f"/{settings.BRAIN.admin_path}governance/proposal/?status__exact=pending_approval"
    seed(50)
    _, small_queries, _ = _timed_get(client, queue_url, repeat=1)
    seed(count)
    queue_s, queue_queries, queue_status = _timed_get(client, queue_url)
    admin_s, admin_queries, admin_status = _timed_get(client, admin_url)
    assert queue_status == 200 and admin_status == 200, (queue_status, admin_status)
    return {
        "proposals": count,
        "queue_queries_50": small_queries,
        "queue_queries": queue_queries,
        "queue_ms": queue_s * 1000,
        "admin_queries": admin_queries,
        "admin_ms": admin_s * 1000,
        "speedup": admin_s / queue_s,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--proposals", type=int, default=10_000)
    parser.add_argument("--appends", type=int, default=250, help="appends per writer (8 writers)")
    args = parser.parse_args(argv)
    _setup_django()
    figures: dict[str, Any] = {}
    append = bench_append(args.appends)
    figures["append"] = append
    print(
        f"audit append, {WRITERS} writer processes x {args.appends}: plain INSERT autocommit "
        f"{append['plain_per_s']:,.0f}/s, plain INSERT in its own transaction "
        f"{append['plain_tx_per_s']:,.0f}/s; chained, one studio "
        f"{append['one_chain_per_s']:,.0f}/s (ratio {append['ratio_one_chain']:.2f} vs autocommit, "
        f"{append['ratio_one_chain_tx']:.2f} vs transaction); chained, 8 studios "
        f"{append['eight_chains_per_s']:,.0f}/s (ratio {append['ratio_eight_chains']:.2f} / "
        f"{append['ratio_eight_chains_tx']:.2f}); goal >= 0.5; "
        f"{append['chains_verified']} chains verified"
    )
    verify = bench_verify(args.events)
    figures["verify"] = verify
    print(
        f"verify_audit over {verify['events']:,} events: {verify['verify_s']:.2f} s = "
        f"{verify['verify_per_s']:,.0f} events/s (goal >= 100,000); sha256sum over the same "
        f"{verify['export_bytes'] / 1e6:,.0f} MB exported: {verify['sha256sum_s']:.2f} s = "
        f"{verify['sha256sum_per_s']:,.0f} events/s; bulk load {verify['load_s']:.1f} s"
    )
    queue = bench_queue(args.proposals)
    figures["queue"] = queue
    print(
        f"proposals queue with {queue['proposals']:,} pending: {queue['queue_queries']} queries "
        f"(50 pending: {queue['queue_queries_50']}), {queue['queue_ms']:.1f} ms; admin changelist: "
        f"{queue['admin_queries']} queries, {queue['admin_ms']:.1f} ms; "
        f"queue is {queue['speedup']:.1f}x the admin's speed"
    )
    sys.stdout.flush()
    return figures


if __name__ == "__main__":
    main()
