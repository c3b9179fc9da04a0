"""StudioState benchmarks (issue 4).

1. Capture from the ``large`` demo source (>= 100,000 Firestore documents): wall time and
   peak memory, first capture (empty mirror) and steady state (mirror up to date), against
   the baseline of loading and JSON-parsing the same files alone. Each measurement runs in
   its own process so peak RSS is its own.
2. Diff of two large mirrors' manifests (~107,000 records, 1% changed, 0.5% added/removed).

Run with ``make bench`` (or ``python -m tests.bench.bench_state``). Uses DATABASE_URL, default
a ``studio_brain_bench`` database on the machine's Postgres.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "postgres://postgres@127.0.0.1:5432/studio_brain_bench"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", BENCH_DB)
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
    env.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    env.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")
    env["BRAIN_LOG_LEVEL"] = "WARNING"
    # The largest scan limit the contract allows, so the capture reads as much as it may.
    env["BRAIN_SCAN_LIMIT"] = "20000"
    return env


def _child(mode: str, directory: str) -> None:
    """Runs in a subprocess: one measurement, printed as JSON."""
    started = time.perf_counter()
    if mode == "parse":
        for name in ("firestore.json", "stripe.json"):
            json.loads((Path(directory) / name).read_text(encoding="utf-8"))
        result: dict[str, object] = {}
    else:
        import django

        django.setup()
        from brain.services.snapshots import snapshot_capture
        from brain.state.sources import DemoSource
        from tests.factories import StudioFactory

        # The factory gets or creates by slug: a second run reuses the studio.
        studio = StudioFactory(slug="bench-large", name="Bench", timezone="UTC")
        started = time.perf_counter()
        snapshot = snapshot_capture(studio=studio, source=DemoSource(Path(directory))).snapshot
        from brain.models import CloudRecord

        result = {
            "hash": snapshot.content_hash,
            "durations_ms": snapshot.durations_ms,
            "mirrored": CloudRecord.objects.filter(studio=studio).count(),
            "completeness": snapshot.completeness,
        }
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "peak_mib": peak_kib / 1024, **result}))


def _measure(mode: str, directory: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_state", "--child", mode, str(directory)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _prepare(directory: Path) -> None:
    env = _env()
    db_name = env["DATABASE_URL"].rsplit("/", 1)[1]
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {db_name}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {db_name}"],
        check=True,
        capture_output=True,
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [
            *manage,
            "demo_cloud",
            "--studio",
            "bench-large",
            "--size",
            "large",
            "--seed",
            "1",
            "--out",
            str(directory),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def bench_capture() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _prepare(directory)
        documents = json.loads((directory / "manifest.json").read_text())["documents"]
        parse = min((_measure("parse", directory) for _ in range(3)), key=lambda r: r["seconds"])
        first = _measure("capture", directory)
        steady = min((_measure("capture", directory) for _ in range(2)), key=lambda r: r["seconds"])
    print(f"capture of the large demo ({documents} Firestore documents + Stripe objects):")
    print(f"  baseline load+parse:  {parse['seconds']:.2f} s, peak {parse['peak_mib']:.0f} MiB")
    for label, run in (("first capture (empty mirror)", first), ("steady-state capture", steady)):
        print(
            f"  {label}: {run['seconds']:.2f} s, peak {run['peak_mib']:.0f} MiB "
            f"-> time ratio {run['seconds'] / parse['seconds']:.2f}x, memory ratio "
            f"{run['peak_mib'] / parse['peak_mib']:.2f}x (goal <= 1.5x); {run['mirrored']} records "
            f"mirrored ({run['completeness']}: scan limit 20000 per collection group); "
            f"stages {run['durations_ms']}"
        )
    assert first["hash"] == steady["hash"], "captures of the same data must hash alike"


def bench_diff() -> None:
    from brain.state.diff import diff_records

    records = 107_000
    previous = {(f"col{i % 18}", f"doc{i:07d}"): f"{i:064x}" for i in range(records)}
    current = dict(previous)
    for i in range(0, records, 100):
        current[(f"col{i % 18}", f"doc{i:07d}")] = f"{i + 1:064x}"
    for i in range(5, records, 200):
        del current[(f"col{i % 18}", f"doc{i:07d}")]
    for i in range(records, records + records // 200):
        current[(f"col{i % 18}", f"doc{i:07d}")] = "new"
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        changes = diff_records(previous, current)
        timings.append(time.perf_counter() - started)
    changed = sum(kinds["changed"]["count"] for kinds in changes.values())
    print(
        f"diff of two large mirrors ({records} records, {changed} changed): median "
        f"{sorted(timings)[2]:.3f} s (goal <= 2 s)"
    )


def main() -> None:
    bench_diff()
    bench_capture()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
