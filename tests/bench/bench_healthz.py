"""/healthz requests/s through the project's full middleware stack vs the same view bare.

Two server processes of the same kind (Django's threaded WSGIServer, as runserver uses,
via ``tests.bench.serve``) serve the same view function, ``brain.health.healthz``: one
with ``studio_brain.settings`` (every middleware, DEBUG off), one with
``tests.bench.bare_settings`` (no middleware, no apps). A load generator in a third
process sends a warm-up, then a fixed number of keep-alive GETs from a few threads. The
two servers are measured alternately over several rounds; the median of each is kept.
Goal: project / bare >= 0.8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from brain.embedded import free_port, process_stop, spawn
from tests.bench import Figure, median

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 5
REQUESTS = 3000
THREADS = 4
WARMUP = 300


def _server_env(settings_module: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BRAIN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        BRAIN_DEPLOYMENT="development",
        # /healthz answers from the process alone; these only satisfy the config contract.
        DATABASE_URL=os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/studio_brain"
        ),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _start(settings_module: str, port: int) -> subprocess.Popen[bytes]:
    process = spawn(
        [sys.executable, "-m", "tests.bench.serve", str(port)],
        env=_server_env(settings_module),
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if line != "listening":
        process_stop(process)
        raise RuntimeError(f"{settings_module} server did not start (said {line!r})")
    return process


def _probe(port: int) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        body = json.loads(response.read())
        if response.status != 200 or body != {"status": "ok"}:
            raise RuntimeError(f"/healthz on {port} answered {response.status} {body}")
        return dict(response.headers)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(port: int, pid: int) -> dict[str, object]:
    cpu_before = _cpu_seconds(pid)
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.load", str(port), "/healthz",
         str(REQUESTS), str(THREADS), str(WARMUP)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    # Includes the warm-up requests; the same count for both servers.
    result["server_cpu_us"] = (_cpu_seconds(pid) - cpu_before) / (REQUESTS + WARMUP) * 1e6
    statuses = result["statuses"]
    if statuses != {"200": REQUESTS}:
        raise RuntimeError(f"not every request answered 200 on port {port}: {statuses}")
    return result


def main() -> list[Figure]:
    project_port, bare_port = free_port(), free_port()
    project = _start("studio_brain.settings", project_port)
    bare = _start("tests.bench.bare_settings", bare_port)
    try:
        headers = _probe(project_port)
        # The stack really runs: the request-id and CSP middleware leave their headers.
        if "X-Request-ID" not in headers or "Content-Security-Policy" not in headers:
            raise RuntimeError(f"project server answered without its middleware headers: {headers}")
        _probe(bare_port)
        runs: dict[str, list[dict[str, object]]] = {"project": [], "bare": []}
        for _ in range(ROUNDS):
            runs["bare"].append(_load(bare_port, bare.pid))
            runs["project"].append(_load(project_port, project.pid))
    finally:
        process_stop(project)
        process_stop(bare)

    def rps(name: str) -> list[float]:
        return [float(run["rps"]) for run in runs[name]]  # type: ignore[arg-type]

    def p50(name: str) -> list[float]:
        return [float(run["p50_ms"]) for run in runs[name]]  # type: ignore[arg-type]

    def cpu(name: str) -> list[float]:
        return [float(run["server_cpu_us"]) for run in runs[name]]  # type: ignore[arg-type]

    connections = {name: [run["connections"] for run in runs[name]] for name in runs}
    return [
        Figure(
            name="/healthz through the full middleware stack",
            value=median(rps("project")),
            unit="requests/s",
            baseline_name="same view, same server, no middleware",
            baseline=median(rps("bare")),
            goal=">= 0.8",
            raw={
                "project rps per round": ", ".join(f"{v:.0f}" for v in rps("project")),
                "bare rps per round": ", ".join(f"{v:.0f}" for v in rps("bare")),
                "project p50 ms": ", ".join(f"{v:.2f}" for v in p50("project")),
                "bare p50 ms": ", ".join(f"{v:.2f}" for v in p50("bare")),
                "project server CPU us/request": ", ".join(f"{v:.0f}" for v in cpu("project")),
                "bare server CPU us/request": ", ".join(f"{v:.0f}" for v in cpu("bare")),
                "server CPU ratio bare/project (less load-sensitive)": (
                    f"{median(cpu('bare')) / median(cpu('project')):.2f}"
                ),
                "connections opened per round (keep-alive: = threads)": connections,
                "load": f"{REQUESTS} GETs after {WARMUP} warm-up, {THREADS} threads, "
                f"{ROUNDS} rounds alternating",
            },
        )
    ]
