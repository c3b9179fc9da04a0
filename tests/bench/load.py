"""A bounded HTTP load generator: keep-alive connections, a few threads, a fixed count.

    python -m tests.bench.load PORT PATH REQUESTS THREADS WARMUP

Prints one JSON line: requests/s over the measured requests, status counts, how many
connections were opened (1 per thread when keep-alive holds) and latency percentiles.
Only ever talks to 127.0.0.1, and gives up after TIME_LIMIT seconds.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections import Counter

TIME_LIMIT = 120.0


def worker(port: int, path: str, count: int, deadline: float, out: dict[str, object]) -> None:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    opened = 0
    conn: http.client.HTTPConnection | None = None
    for _ in range(count):
        if time.monotonic() > deadline:
            statuses[-1] += 1
            break
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            opened += 1
        started = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            statuses[0] += 1
            conn.close()
            conn = None
            continue
        latencies.append(time.perf_counter() - started)
        statuses[response.status] += 1
        if response.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    out.update(statuses=statuses, latencies=latencies, opened=opened)


def load(port: int, path: str, requests: int, threads: int) -> dict[str, object]:
    deadline = time.monotonic() + TIME_LIMIT
    results: list[dict[str, object]] = [{} for _ in range(threads)]
    share = [requests // threads + (1 if i < requests % threads else 0) for i in range(threads)]
    pool = [
        threading.Thread(target=worker, args=(port, path, share[i], deadline, results[i]))
        for i in range(threads)
    ]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    opened = 0
    for result in results:
        statuses.update(result["statuses"])  # type: ignore[arg-type]
        latencies.extend(result["latencies"])  # type: ignore[arg-type]
        opened += int(result["opened"])  # type: ignore[call-overload]
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    return {
        "rps": statuses[200] / elapsed,
        "seconds": elapsed,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connections": opened,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    port, path, requests, threads, warmup = (
        int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
    )  # fmt: skip
    load(port, path, warmup, threads)
    print(json.dumps(load(port, path, requests, threads)), flush=True)


if __name__ == "__main__":
    main()
