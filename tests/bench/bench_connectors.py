"""Connector benchmarks: overhead of the SDK over raw httpx, and concurrency of vacuum polls.

Run: ``.venv/bin/python -m tests.bench.bench_connectors`` (needs Redis at REDIS_URL for the
breaker, as in production). Prints figures; asserts nothing (wall-clock goals are reported,
not tested).
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import redis

from connectors.hubitat.connector import HubitatConnector
from connectors.hubitat.schemas import HubitatSettings
from connectors.roborock.connector import RoborockConnector
from connectors.roborock.schemas import RoborockSettings
from connectors.sdk.breaker import CircuitBreaker
from tests.peers.hubitat_peer import HubitatPeer
from tests.peers.roborock_peer import TOKEN, RoborockPeer

ROUNDS = 15


def _median(fn: Any, rounds: int = ROUNDS) -> float:
    fn()  # warm up connections and caches
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_hubitat(devices: int = 50, concurrency: int = 4) -> dict[str, float]:
    peer = HubitatPeer(device_count=devices).start()
    breaker_client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))
    breaker = CircuitBreaker(breaker_client, "bench-hubitat")
    breaker.reset()
    settings = HubitatSettings(host=peer.url, app_id=peer.app_id, max_concurrency=concurrency)
    connector = HubitatConnector(
        instance="bench", settings=settings, secrets={"token": peer.token}, breaker=breaker
    )
    ids = [d["id"] for d in peer.devices]
    client = httpx.Client(
        base_url=f"{peer.url}/apps/api/{peer.app_id}",
        limits=httpx.Limits(max_connections=concurrency),
    )
    params = {"access_token": peer.token}

    def direct() -> None:
        client.get("/devices/all", params=params).json()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(lambda i: client.get(f"/devices/{i}/events", params=params).json(), ids))

    try:
        raw = _median(direct)
        sdk = _median(lambda: connector.read())
    finally:
        connector.close()
        client.close()
        breaker.reset()
        peer.stop()
    return {
        "devices": devices,
        "requests_per_read": devices + 1,
        "direct_httpx_s": raw,
        "connector_s": sdk,
        "ratio": sdk / raw,
    }


def bench_roborock(count: int = 10, latency: float = 0.05) -> dict[str, float]:
    """Each simulated vacuum answers after ``latency`` s, like a vacuum on Wi-Fi."""
    peer = RoborockPeer(count=count).start()
    peer.set_faults(delay=latency)
    try:
        settings = RoborockSettings.model_validate(peer.settings(timeout=2))
        every = RoborockConnector(instance="bench-all", settings=settings, secrets={"token": TOKEN})
        all_s = _median(lambda: every.health(), rounds=7)
        singles = []
        for entry in settings.devices:
            one = RoborockConnector(
                instance="bench-one",
                secrets={"token": TOKEN},
                settings=settings.model_copy(update={"devices": (entry,)}),
            )
            singles.append(_median(lambda one=one: one.health(), rounds=5))
    finally:
        peer.stop()
    slowest = max(singles)
    return {
        "vacuums": count,
        "answer_latency_s": latency,
        "all_concurrently_s": all_s,
        "slowest_single_s": slowest,
        "ratio": all_s / slowest,
    }


def main() -> None:
    # Figures only: per-call log lines would dominate the output (and the timing).
    import logging

    import structlog

    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    hub = bench_hubitat()
    direct_ms, sdk_ms = hub["direct_httpx_s"] * 1000, hub["connector_s"] * 1000
    print(
        f"hubitat: read {hub['devices']} devices ({hub['requests_per_read']} requests, "
        f"4 in flight): direct httpx {direct_ms:.1f} ms, connector {sdk_ms:.1f} ms, "
        f"ratio {hub['ratio']:.2f}x (goal <= 1.2x)"
    )
    vac = bench_roborock()
    all_ms, one_ms = vac["all_concurrently_s"] * 1000, vac["slowest_single_s"] * 1000
    print(
        f"roborock: health of {vac['vacuums']} vacuums answering in "
        f"{vac['answer_latency_s'] * 1000:.0f} ms: all {all_ms:.1f} ms vs slowest single "
        f"{one_ms:.1f} ms, ratio {vac['ratio']:.2f}x (goal <= 1.5x)"
    )


if __name__ == "__main__":
    main()
