"""The pieces of `make run` that can be exercised quickly: the full run is `.ci/run`'s smoke."""

import contextlib
import importlib.util
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import psycopg
import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from psycopg import sql

from brain.embedded import (
    DataPaths,
    EmbeddedRedis,
    postgres_database_ensure,
    process_stop,
    redis_command,
    runtime_commands,
    runtime_env,
    secret_key_ensure,
    spawn,
)
from brain.models import Membership, Role, Studio

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    status = Path(f"/proc/{pid}/status").read_text()
    return "\nState:\tZ" not in status


def _wait_dead(pid: int, attempts: int = 100) -> bool:
    for _ in range(attempts):
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _kill_if_alive(pid: int) -> None:
    """Leave nothing running when an assertion fails."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _load_run_script():
    spec = importlib.util.spec_from_file_location("run_script", ROOT / "scripts" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# Secret key ---------------------------------------------------------------------------------


def test_secret_key_file_is_created_private_and_long(tmp_path):
    path = secret_key_ensure(tmp_path / ".data" / "secret_key")

    assert _mode(path) == 0o600
    assert len(path.read_text().strip()) >= 50


def test_secret_key_is_stable_across_runs(tmp_path):
    first = secret_key_ensure(tmp_path / "secret_key").read_text()
    second = secret_key_ensure(tmp_path / "secret_key").read_text()

    assert first == second


def test_secret_key_file_with_loose_mode_is_tightened_not_replaced(tmp_path):
    path = secret_key_ensure(tmp_path / "secret_key")
    key = path.read_text()
    path.chmod(0o644)

    secret_key_ensure(path)

    assert _mode(path) == 0o600
    assert path.read_text() == key


def test_an_empty_secret_key_file_gets_a_new_key(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("\n")

    secret_key_ensure(path)

    assert len(path.read_text().strip()) >= 50


# bootstrap_demo -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_bootstrap_demo_is_idempotent_and_prints_the_password_once(tmp_path):
    credentials = tmp_path / "demo-admin.txt"
    first, second = StringIO(), StringIO()

    call_command("bootstrap_demo", "--credentials-file", str(credentials), stdout=first)
    call_command("bootstrap_demo", "--credentials-file", str(credentials), stdout=second)

    studio = Studio.objects.get(slug="demo")
    assert (studio.name, studio.timezone) == ("Demo Studio", "Europe/London")
    assert Studio.objects.count() == 1
    assert get_user_model().objects.filter(username="demo-admin").count() == 1
    membership = Membership.objects.get(user__username="demo-admin")
    assert (membership.studio, membership.role) == (studio, Role.ADMIN)

    password = credentials.read_text().split("password: ", 1)[1].strip()
    assert password in first.getvalue()
    assert password not in second.getvalue()
    assert str(credentials) in second.getvalue()
    assert _mode(credentials) == 0o600
    signed_in = Client().post("/login/", {"username": "demo-admin", "password": password})
    assert (signed_in.status_code, signed_in.url) == (302, "/")


@pytest.mark.django_db
def test_bootstrap_demo_without_the_credentials_file_says_how_to_set_a_password(tmp_path):
    call_command("bootstrap_demo", "--credentials-file", str(tmp_path / "a.txt"), stdout=StringIO())
    out = StringIO()

    call_command("bootstrap_demo", "--credentials-file", str(tmp_path / "b.txt"), stdout=out)

    assert "changepassword demo-admin" in out.getvalue()
    assert not (tmp_path / "b.txt").exists()


# Child commands and environment -------------------------------------------------------------


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    specs = runtime_commands(
        python="/venv/bin/python",
        root=tmp_path,
        port=8123,
        beat_schedule=DataPaths(tmp_path).beat_schedule,
    )
    return {spec.name: spec.argv for spec in specs}


def test_worker_serves_every_queue_without_a_pidfile(tmp_path):
    worker = _commands(tmp_path)["worker"]

    assert worker[:6] == ["/venv/bin/python", "-m", "celery", "-A", "studio_brain", "worker"]
    assert worker[worker.index("-Q") + 1] == "reads,execute,default"
    assert worker[worker.index("--concurrency") + 1] == "2"
    assert worker[worker.index("-n") + 1] == "brain@%h"
    assert "--without-mingle" in worker
    assert "--pidfile=" in worker


def test_beat_keeps_its_schedule_under_data_without_a_pidfile(tmp_path):
    beat = _commands(tmp_path)["beat"]

    assert beat[:6] == ["/venv/bin/python", "-m", "celery", "-A", "studio_brain", "beat"]
    assert beat[beat.index("--schedule") + 1] == str(tmp_path / ".data" / "celerybeat-schedule")
    assert "--pidfile=" in beat


def test_web_runs_on_loopback_at_the_chosen_port_without_reloader_or_second_checks(tmp_path):
    web = _commands(tmp_path)["web"]

    assert web == [
        "/venv/bin/python",
        str(tmp_path / "manage.py"),
        "runserver",
        "127.0.0.1:8123",
        "--noreload",
        "--insecure",
        "--skip-checks",
    ]


def test_runtime_env_provides_urls_key_file_and_demo_mode_but_never_debug(tmp_path):
    env = runtime_env(
        {"PATH": "/bin"},
        database_url="postgresql://postgres:@/studio_brain?host=/x",
        redis_url="redis://127.0.0.1:7000/0",
        secret_key_file=tmp_path / "secret_key",
    )

    assert env["DATABASE_URL"] == "postgresql://postgres:@/studio_brain?host=/x"
    assert env["REDIS_URL"] == "redis://127.0.0.1:7000/0"
    assert env["DJANGO_SECRET_KEY_FILE"] == str(tmp_path / "secret_key")
    # Staff get the cockpit's 404/500 pages, not Django's debug pages.
    assert "DJANGO_DEBUG" not in env
    assert env["BRAIN_DEMO_MODE"] == "true"
    assert env["PATH"] == "/bin"


def test_runtime_env_keeps_what_the_caller_set():
    env = runtime_env(
        {"DJANGO_DEBUG": "false", "BRAIN_DEMO_MODE": "false", "DJANGO_SECRET_KEY": "k" * 60},
        database_url="postgres://db/x",
        redis_url="redis://r/0",
        secret_key_file=None,
    )

    assert env["DJANGO_DEBUG"] == "false"
    assert env["BRAIN_DEMO_MODE"] == "false"
    assert "DJANGO_SECRET_KEY_FILE" not in env


def test_runtime_env_never_turns_debug_on_in_production():
    env = runtime_env(
        {"BRAIN_DEPLOYMENT": "production"},
        database_url="postgres://db/x",
        redis_url="redis://r/0",
        secret_key_file=None,
    )

    assert "DJANGO_DEBUG" not in env


def test_redis_command_listens_on_loopback_with_no_pidfile(tmp_path):
    argv = redis_command(Path("/bin/redis-server"), tmp_path, 7001)

    assert argv[argv.index("--bind") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "7001"
    assert argv[argv.index("--dir") + 1] == str(tmp_path)
    assert argv[argv.index("--daemonize") + 1] == "no"
    assert "--pidfile" not in argv


# Real processes -----------------------------------------------------------------------------


def test_embedded_redis_serves_and_stops_leaving_no_pidfile(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.ping() is True
        client.close()
    finally:
        pid = server.process.pid
        server.stop()

    assert _wait_dead(pid)
    assert not list((tmp_path / "redis").glob("*.pid"))


def test_stopping_a_child_that_ignores_sigterm_kills_its_whole_group():
    script = "trap '' TERM; sleep 60 & echo $!; wait"
    child = spawn(["/bin/sh", "-c", script], stdout=subprocess.PIPE)
    grandchild = int(child.stdout.readline())
    try:
        process_stop(child, grace=0.3)

        assert child.returncode == -signal.SIGKILL
        assert _wait_dead(grandchild)
    finally:
        _kill_if_alive(grandchild)


def test_a_child_is_terminated_when_its_supervisor_is_killed():
    # The "supervisor" spawns a long sleep the way scripts/run.py does, then gets SIGKILL.
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from brain.embedded import spawn;"
        "print(spawn(['sleep', '60']).pid, flush=True); time.sleep(60)"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", code, str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    child = int(supervisor.stdout.readline())
    try:
        assert _alive(child)

        supervisor.kill()
        supervisor.wait()

        assert _wait_dead(child)
    finally:
        _kill_if_alive(child)


def test_a_second_run_is_refused_while_the_first_holds_the_data_lock(tmp_path):
    run_script = _load_run_script()
    paths = DataPaths(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX);"
         "print('locked', flush=True); time.sleep(60)",
         str(paths.lock)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    paths.data.mkdir(exist_ok=True)
    assert holder.stdout.readline().strip() == "locked"

    assert run_script.data_lock(paths) is None

    holder.kill()  # SIGKILL: the kernel releases the lock, no stale pid file is left
    holder.wait()
    lock = run_script.data_lock(paths)
    assert lock is not None
    lock.close()


def test_the_run_script_refuses_a_port_that_is_taken(monkeypatch, capsys):
    run_script = _load_run_script()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("BRAIN_RUN_PORT", str(listener.getsockname()[1]))

        assert run_script.web_port() is None

    assert "is in use" in capsys.readouterr().out


@pytest.mark.django_db
def test_database_ensure_creates_the_database_once():
    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_ensure"
    admin = psycopg.conninfo.make_conninfo(
        dbname="postgres",
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    try:
        assert postgres_database_ensure(admin, name) is True
        assert postgres_database_ensure(admin, name) is False
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
