"""Start-up of `make run` (warm restart: installed .venv, existing .data) to /readyz 200.

Each run starts `make run` in its own session with DATABASE_URL / REDIS_URL unset (the
embedded Postgres and Redis), waits for /readyz to answer 200 (database, Redis and a
Celery worker answering a ping), then sends SIGINT and waits until everything has
stopped before the next run. One unmeasured run first makes sure .data exists and is
migrated, so every measured run is a warm restart: migrate and bootstrap_demo are skipped
(the code and the database are unchanged), web and worker start side by side once
Postgres and Redis answer, beat once the worker is ready.

Baseline: `manage.py check` alone, the cost of starting one Django process with the
project's settings and apps, measured between the runs (the machine's load changes), so
the ratio says how many "one Django start" equivalents the whole start-up costs. Where
the time goes comes from the supervisor's own timings in .data/run.json.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from brain.embedded import DataPaths, free_port, json_read, secret_key_ensure
from tests.bench import Figure, median

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
PROBE_EVERY = 0.1
# /readyz holds a request up to 2 s while no worker answers: enough probes in flight that a
# new one still starts every PROBE_EVERY s (2 s / 0.1 s), bounded all the same.
MAX_PROBES_IN_FLIGHT = 25


def _status(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


class _FirstOk:
    """Probe a URL every PROBE_EVERY seconds, each probe in its own thread.

    /readyz waits up to 2 s for a worker reply, so one probe at a time would measure the
    probe's own timeout; overlapping probes see the first 200 within PROBE_EVERY of it.
    """

    def __init__(self, url: str, started: float) -> None:
        self.url = url
        self.started = started
        self.at: float | None = None
        self.in_flight = 0
        self.lock = threading.Lock()

    def probe(self) -> None:
        with self.lock:
            self.in_flight += 1
        try:
            if _status(self.url) == 200:
                with self.lock:
                    if self.at is None:
                        self.at = time.monotonic() - self.started
        finally:
            with self.lock:
                self.in_flight -= 1

    def wait(self, process: subprocess.Popen[bytes], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while self.at is None:
            if process.poll() is not None:
                raise RuntimeError(f"make run exited with code {process.returncode} before ready")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.url} not 200 within {timeout:g} s")
            if self.in_flight < MAX_PROBES_IN_FLIGHT:
                threading.Thread(target=self.probe, daemon=True).start()
            time.sleep(PROBE_EVERY)
        return self.at


def run_once(port: int, log: Path, paths: DataPaths) -> tuple[float, float, float, dict]:
    """(seconds to /healthz 200, to /readyz 200, to stop; the supervisor's run file)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["BRAIN_RUN_PORT"] = str(port)
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        healthy = _FirstOk(f"{base}/healthz", started)
        ready = _FirstOk(f"{base}/readyz", started)
        healthy_at = healthy.wait(process, READY_TIMEOUT)
        ready_at = ready.wait(process, READY_TIMEOUT)
        # The supervisor notices the same moment within its probe interval.
        deadline = time.monotonic() + 5
        record = json_read(paths.run_file) or {}
        while "ready" not in record.get("timings", {}) and time.monotonic() < deadline:
            time.sleep(0.05)
            record = json_read(paths.run_file) or {}
    finally:
        stop_started = time.monotonic()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError("make run did not stop within 60 s of SIGINT") from None
    stopped_in = time.monotonic() - stop_started
    return healthy_at, ready_at, stopped_in, record


def check_seconds(paths: DataPaths) -> float:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"},
        "DJANGO_SECRET_KEY_FILE": str(secret_key_ensure(paths.secret_key)),
        # `check` connects to nothing; the URLs only have to satisfy the config contract.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/studio_brain",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "BRAIN_DEMO_MODE": "true",
    }
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def main() -> list[Figure]:
    paths = DataPaths(ROOT)
    log = paths.data / "bench-startup.log"
    paths.data.mkdir(exist_ok=True)
    log.write_bytes(b"")
    port = free_port()
    cold = not paths.pgdata.exists()
    first = run_once(port, log, paths)  # not measured: creates/migrates .data when missing
    healthz, readyz, stops, checks = [], [], [], []
    phases: dict[str, list[float]] = {}
    steps: set[str] = set()
    for _ in range(RUNS):
        healthy_at, ready_at, stopped_in, record = run_once(port, log, paths)
        healthz.append(healthy_at)
        readyz.append(ready_at)
        stops.append(stopped_in)
        for moment, seconds in record.get("timings", {}).items():
            phases.setdefault(moment, []).append(float(seconds))
        steps.update(f"{step}: {what}" for step, what in record.get("steps", {}).items())
        checks.append(check_seconds(paths))
    clean_stops = log.read_text(errors="replace").count("[run] stopped cleanly")
    if clean_stops != RUNS + 1:
        raise RuntimeError(f"{clean_stops} of {RUNS + 1} runs reported a clean stop; see {log}")
    timeline = sorted(phases.items(), key=lambda item: median(item[1]))
    return [
        Figure(
            name="make run to /readyz 200 (warm restart, median of 5)",
            value=median(readyz),
            unit="s",
            baseline_name="`manage.py check` alone, median of 5",
            baseline=median(checks),
            goal="<= 2",
            raw={
                "readyz runs (s)": _fmt(readyz),
                "healthz runs (s), web answering": _fmt(healthz),
                "stop after SIGINT (s)": _fmt(stops),
                "manage.py check runs (s)": _fmt(checks),
                "supervisor timeline, median s since it began": ", ".join(
                    f"{moment} {median(values):.2f}" for moment, values in timeline
                ),
                "one-off steps": "; ".join(sorted(steps)),
                "unmeasured first run (s)": f"{first[1]:.2f}"
                + (" (cold: created .data)" if cold else " (.data existed)"),
                "log": str(log),
            },
        )
    ]


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)
