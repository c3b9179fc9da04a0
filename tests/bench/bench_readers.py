"""Read throughput from the Firestore peer: the reader against a bare client loop (issue 4).

The peer runs in its own process (``python -m tests.peers.firestore_peer``) so it does not
share the GIL with the reader. It is loaded with the ``large`` demo's Firestore documents.
Both sides read the same collections with the same page size and field masks, ordered by
``__name__`` and paged with ``start_after``:

- the bare loop is the stock client and nothing else (``select``, ``order_by``, ``limit``,
  ``start_after``, ``stream``, ``to_dict``);
- the reader is ``FirestoreConnector.read`` with everything production has: the SDK
  pipeline (breaker in Redis, retries, input/output hashes, one log line per call), the
  read-time anchor and consistent ``read_time``, the cursor checks, value conversion and
  the ``Record`` models.

Two workloads: every top-level collection, and ``batches/*/pieces`` under the first 2,000
batches (the default scan limit: what a capture reads), one query per parent. The goal is
reader >= 0.9x the bare loop's documents/s. Also reported: the reader plus the brain's
normalization and content hashing (``make_document``), for context.

Run: ``.venv/bin/python -m tests.bench.bench_readers [--size small|large] [--rounds N]``.
Needs Redis at REDIS_URL (the breaker, as in production). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE_SIZE = 500
PARENTS = 2000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_peer_process() -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.firestore_peer", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("FIRESTORE_EMULATOR_HOST="):
        process.kill()
        raise RuntimeError(f"the peer did not start: {line!r}")
    return process, line.partition("=")[2]


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/studio_brain_bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
    os.environ["BRAIN_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    import structlog

    # Figures only: per-call log lines would dominate the output. The reader still builds
    # and filters them, as it does in production at WARNING.
    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _interleaved(runs: dict[str, Callable[[], int]], rounds: int) -> dict[str, tuple[float, int]]:
    """Median seconds per run and the documents read, the runs interleaved round by round
    (after one warm-up each) so a busy neighbour on a shared machine slows them alike."""
    counts = {name: run() for name, run in runs.items()}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            assert run() == counts[name]
            samples[name].append(time.perf_counter() - started)
    return {name: (statistics.median(samples[name]), counts[name]) for name in runs}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "large"], default="large")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    _setup_django()

    import redis
    from google.cloud import firestore

    from brain.state.demo import generate
    from brain.state.snapshot import FIRESTORE_COLLECTIONS
    from brain.state.sources import make_document
    from connectors.firestore.client import NO_CLIENT_RETRY
    from connectors.firestore.connector import FirestoreConnector
    from connectors.firestore.schemas import FIELD_MASKS, FirestoreSettings
    from connectors.sdk.breaker import CircuitBreaker
    from connectors.sdk.schemas import ReadQuery
    from tests.peers.demo_loader import load_firestore

    process, host_port = start_peer_process()
    os.environ["FIRESTORE_EMULATOR_HOST"] = host_port
    try:
        client = firestore.Client(project="bench")
        demo = generate(studio="bench", size=arguments.size, seed=1)
        started = time.perf_counter()
        loaded = load_firestore(client, demo.firestore)
        load_s = time.perf_counter() - started
        print(
            f"peer (own process) loaded with {loaded:,} documents of the {arguments.size} demo "
            f"in {load_s:.1f} s"
        )
        batch_ids = sorted(
            d["name"].split("/")[1]
            for d in demo.firestore["documents"]
            if d["name"].count("/") == 1 and d["name"].startswith("batches/")
        )[:PARENTS]
        piece_paths = [f"batches/{batch_id}/pieces" for batch_id in batch_ids]

        def bare(paths: list[str], group: Callable[[str], str], read_time: Any = None) -> int:
            count = 0
            for path in paths:
                query = client.collection(path).order_by("__name__").limit(PAGE_SIZE)
                mask = FIELD_MASKS[group(path)]
                if mask is not None:
                    query = query.select(list(mask))
                last = None
                while True:
                    page = list(
                        (query.start_after(last) if last is not None else query).stream(
                            retry=NO_CLIENT_RETRY, timeout=30, read_time=read_time
                        )
                    )
                    for document in page:
                        document.to_dict()
                    count += len(page)
                    if len(page) < PAGE_SIZE:
                        break
                    last = page[-1]
            return count

        breaker = CircuitBreaker(
            redis.Redis.from_url(os.environ["REDIS_URL"]), "bench-firestore-reader"
        )
        breaker.reset()

        def connector(concurrency: int) -> FirestoreConnector:
            settings = FirestoreSettings(
                project="bench", page_size=PAGE_SIZE, timeout=30, max_concurrency=concurrency
            )
            return FirestoreConnector(instance="bench", settings=settings, breaker=breaker)

        def reader(
            groups: list[str], concurrency: int, normalize: bool = False
        ) -> Callable[[], int]:
            conn = connector(concurrency)

            def run() -> int:
                count, read_time = 0, None
                for name in groups:
                    params: dict[str, Any] = {"collection": name, "scan_limit": 10**7}
                    if name == "batches/*/pieces":
                        params["parents"] = batch_ids
                    if read_time is not None:
                        params["read_time"] = read_time
                    result = conn.read(ReadQuery(resource="documents", params=params))
                    read_time = result.read_at.isoformat()
                    if normalize:
                        for record in result.records:
                            make_document(
                                "firestore",
                                record.collection,
                                record.id,
                                record.fields,
                                record.updated_at,
                            )
                    count += len(result.records)
                return count

            return run

        top = list(FIRESTORE_COLLECTIONS)
        # The reader reads at one server read time; the bare loop is also timed doing so,
        # to tell the peer's cost of point-in-time reads from the reader's own.
        anchor = (
            connector(1)
            .read(ReadQuery(resource="documents", params={"collection": "kilns", "scan_limit": 10}))
            .read_at
        )
        figures: dict[str, Any] = {"documents_loaded": loaded}
        workloads = [
            ("top-level collections", top, lambda p: p, top),
            (
                f"batches/*/pieces under {len(batch_ids):,} batches, one query per parent",
                piece_paths,
                lambda p: "batches/*/pieces",
                ["batches/*/pieces"],
            ),
        ]
        for label, paths, group, groups in workloads:
            results = _interleaved(
                {
                    "bare": lambda paths=paths, group=group: bare(paths, group),
                    "bare_at_read_time": lambda paths=paths, group=group: bare(
                        paths, group, anchor
                    ),
                    "reader": reader(groups, 1),
                    "reader_4_in_flight": reader(groups, 4),
                    "reader_normalized": reader(groups, 1, normalize=True),
                },
                arguments.rounds,
            )
            rates = {name: count / seconds for name, (seconds, count) in results.items()}
            documents = results["bare"][1]
            assert {count for _seconds, count in results.values()} == {documents}
            figures[label] = {"documents": documents, **{k: round(v) for k, v in rates.items()}}
            print(
                f"{label}: {documents:,} documents, page {PAGE_SIZE} (docs/s, median of "
                f"{arguments.rounds}):\n"
                f"  bare client {rates['bare']:,.0f} | bare at a read time "
                f"{rates['bare_at_read_time']:,.0f} | reader {rates['reader']:,.0f} "
                f"(ratio {rates['reader'] / rates['bare']:.2f}x, goal >= 0.9x; "
                f"{rates['reader'] / rates['bare_at_read_time']:.2f}x of the same reads at a read time)\n"
                f"  reader, 4 queries in flight {rates['reader_4_in_flight']:,.0f} | "
                f"reader + make_document (normalize, hash) {rates['reader_normalized']:,.0f}"
            )
        return figures
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
