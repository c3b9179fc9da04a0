"""`make run` as staff and other terminals see it: the run file, restarts, warm-restart markers.

The module's `make_run` fixture runs the real scripts/run.py with its data in a tmp dir
(BRAIN_RUN_DATA_DIR): an embedded Postgres and Redis from brain.embedded, migrate, web,
worker and beat.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from brain.embedded import (
    DATA_DIR_ENV,
    DataPaths,
    code_fingerprint,
    database_state,
    free_port,
    migrate_needed,
    prepared_record,
    private_json_write,
    run_environ_apply,
    runtime_commands,
    stable_port,
)

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240.0


def _load_run_script() -> Any:
    spec = importlib.util.spec_from_file_location("run_script", ROOT / "scripts" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# Restart pauses ------------------------------------------------------------------------------


def test_restart_pauses_double_from_one_second_up_to_thirty():
    backoff = _load_run_script().Backoff()

    pauses = [backoff.after_exit(uptime=0.5) for _ in range(7)]

    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_process_that_stayed_up_restarts_after_one_second_again():
    backoff = _load_run_script().Backoff()
    for _ in range(4):
        backoff.after_exit(uptime=0.5)

    assert backoff.after_exit(uptime=45.0) == 1.0
    assert backoff.after_exit(uptime=0.5) == 2.0


# The run file, read by manage.py ------------------------------------------------------------


def _clean_environ(data: Path, **extra: str) -> dict[str, str]:
    return {DATA_DIR_ENV: str(data), **extra}


def _run_file(data: Path, **fields: Any) -> None:
    record = {
        "state": "running",
        "pid": 999999,
        "environ": {
            "DATABASE_URL": "postgresql://postgres:@/studio_brain?host=/x",
            "REDIS_URL": "redis://127.0.0.1:21000/0",
            "DJANGO_SECRET_KEY_FILE": str(data / "secret_key"),
        },
        **fields,
    }
    private_json_write(data / "run.json", record)


def test_without_a_run_file_nothing_is_set_and_nothing_is_said(tmp_path):
    environ = _clean_environ(tmp_path)

    assert run_environ_apply(ROOT, environ) is None
    assert environ == _clean_environ(tmp_path)


def test_a_run_file_of_a_run_that_died_says_so_and_sets_nothing(tmp_path):
    _run_file(tmp_path)  # "running", but nobody holds run.lock: the supervisor was killed
    environ = _clean_environ(tmp_path)

    problem = run_environ_apply(ROOT, environ)

    assert problem is not None
    assert "DATABASE_URL and REDIS_URL are unset" in problem
    assert "stopped without cleaning up: pid 999999 is gone" in problem
    assert "start `make run`" in problem
    assert "DATABASE_URL" not in environ


def test_a_run_file_of_a_stopped_run_says_when_it_stopped(tmp_path):
    _run_file(tmp_path, state="stopped", stopped_at="2026-12-02T18:00:00+00:00")
    environ = _clean_environ(tmp_path, DATABASE_URL="postgres://db/x")

    problem = run_environ_apply(ROOT, environ)

    assert problem is not None
    assert problem.startswith("REDIS_URL is unset")
    assert "it stopped at 2026-12-02T18:00:00+00:00" in problem


def test_a_live_run_fills_in_only_what_the_caller_left_unset(tmp_path):
    _run_file(tmp_path)
    lock = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX);"
         "print('locked', flush=True); time.sleep(60)",
         str(lock)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        environ = _clean_environ(tmp_path, REDIS_URL="redis://mine:6379/3", DJANGO_SECRET_KEY="k")

        assert run_environ_apply(ROOT, environ) is None
    finally:
        holder.kill()
        holder.wait()

    assert environ["DATABASE_URL"] == "postgresql://postgres:@/studio_brain?host=/x"
    assert environ["REDIS_URL"] == "redis://mine:6379/3"
    # The caller's own key: setting the run's key file too would be a configuration error.
    assert "DJANGO_SECRET_KEY_FILE" not in environ


def test_with_both_urls_set_the_run_file_is_not_read(tmp_path):
    (tmp_path / "run.json").write_text("not json")
    environ = _clean_environ(tmp_path, DATABASE_URL="postgres://db/x", REDIS_URL="redis://r/0")

    assert run_environ_apply(ROOT, environ) is None


def test_manage_py_refuses_with_a_clear_message_when_the_run_is_gone(tmp_path):
    _run_file(tmp_path, state="stopped", stopped_at="2026-12-02T18:00:00+00:00")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env[DATA_DIR_ENV] = str(tmp_path)

    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.startswith("manage.py: DATABASE_URL and REDIS_URL are unset")
    assert "it stopped at 2026-12-02T18:00:00+00:00" in result.stderr
    assert result.stdout == ""


# Stable Redis port, warm-restart markers ---------------------------------------------------


def test_the_redis_port_is_kept_across_restarts_and_moves_only_when_taken(tmp_path):
    saved = tmp_path / "redis" / "port"
    first = stable_port(saved, "seed")
    assert saved.read_text().strip() == str(first)

    assert stable_port(saved, "seed") == first
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first))
        taken.listen()
        moved = stable_port(saved, "seed")

    assert moved != first
    assert saved.read_text().strip() == str(moved)


def test_web_runs_the_system_checks_itself_when_migrate_was_skipped(tmp_path):
    specs = runtime_commands(
        python="/venv/bin/python",
        root=tmp_path,
        port=8123,
        beat_schedule=tmp_path / "schedule",
        checks_done=False,
    )
    web = next(spec.argv for spec in specs if spec.name == "web")

    assert "--skip-checks" not in web
    assert web[2:4] == ["runserver", "127.0.0.1:8123"]


def _project(root: Path) -> Path:
    package = root / "app"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "0001_initial.py").write_text("# one\n")
    (root / "uv.lock").write_text("lock 1\n")
    return package


def test_the_code_fingerprint_follows_the_packages_and_the_lock_but_not_the_tests(tmp_path):
    package = _project(tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    before = code_fingerprint(tmp_path)

    (tmp_path / "tests" / "test_x.py").write_text("# a test\n")
    assert code_fingerprint(tmp_path) == before
    (package / "capabilities.py").write_text("REGISTRY = ()\n")  # post_migrate mirrors it
    after_code = code_fingerprint(tmp_path)
    assert after_code != before
    (tmp_path / "uv.lock").write_text("lock 2\n")
    assert code_fingerprint(tmp_path) != after_code


def _test_database_url(name: str | None = None) -> str:
    settings_dict = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=name or settings_dict["NAME"],
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
    )


@pytest.mark.django_db
def test_migrate_is_skipped_only_for_the_code_and_database_it_last_ran_against(tmp_path):
    paths = DataPaths(tmp_path, tmp_path / "data")
    state = database_state(_test_database_url())
    assert state is not None
    assert state["migrations"][0] > 0  # django_migrations has rows
    assert database_state(_test_database_url()) == state
    assert migrate_needed(paths, "code-1", state)

    prepared_record(paths, "migrate", {"code": "code-1", "database": state})

    assert not migrate_needed(paths, "code-1", state)
    assert migrate_needed(paths, "code-2", state)
    assert migrate_needed(paths, "code-1", {**state, "migrations": [1, 1, None]})
    assert migrate_needed(paths, "code-1", None)


def test_an_unreachable_database_has_no_state_so_migrate_runs():
    assert database_state("postgresql://postgres@127.0.0.1:1/x?connect_timeout=1") is None


# The real run ------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}


def _wait(condition: Any, timeout: float, what: str, process: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scripts/run.py exited with {process.returncode} before {what}")
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not {what} within {timeout:g} s")


class MakeRun:
    def __init__(self, data: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.data = data
        self.port = port
        self.process = process
        self.readyz = f"http://127.0.0.1:{port}/readyz"

    def record(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.data / "run.json").read_text()))
        except (OSError, ValueError):
            return {}


@pytest.fixture(scope="module")
def make_run(tmp_path_factory) -> Iterator[MakeRun]:
    data = tmp_path_factory.mktemp("make-run") / "data"
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE")
    }
    env.update({DATA_DIR_ENV: str(data), "BRAIN_RUN_PORT": str(port), "BRAIN_DEMO_MODE": "false"})
    data.mkdir()
    out = (data.parent / "run.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run.py")],
        env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    run = MakeRun(data, port, process)
    try:
        _wait(lambda: _get(run.readyz)[0] == 200, START_TIMEOUT, "ready", process)
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        out.close()
        postmaster = data / "pg" / "postmaster.pid"
        if postmaster.exists():  # a stop that went wrong must not leave a server behind
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(postmaster.read_text().split()[0]), signal.SIGQUIT)


def test_manage_py_finds_the_embedded_services_from_the_run_file(make_run):
    record = make_run.record()
    assert record["state"] == "running"
    assert record["database"] == record["redis"] == "embedded"
    assert (make_run.data / "run.json").stat().st_mode & 0o777 == 0o600
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("DJANGO_SECRET_KEY", None)
    env[DATA_DIR_ENV] = str(make_run.data)
    code = (
        "from django.conf import settings; from django.db import connection; import redis;"
        "print(connection.cursor().execute('SELECT current_database()').fetchone()[0]);"
        "print(settings.REDIS_URL); print(redis.Redis.from_url(settings.REDIS_URL).ping())"
    )

    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-3:]
    assert lines == ["studio_brain", record["environ"]["REDIS_URL"], "True"]
    assert record["environ"]["REDIS_URL"] == f"redis://127.0.0.1:{record['ports']['redis']}/0"
    assert (make_run.data / "redis" / "port").read_text().strip() == str(record["ports"]["redis"])


def test_a_killed_worker_is_restarted_and_readyz_says_degraded_meanwhile(make_run):
    before = make_run.record()["processes"]["worker"]
    os.kill(before["pid"], signal.SIGKILL)

    _status, body = _wait(
        lambda: (answer := _get(make_run.readyz))[0] == 503 and answer,
        30, "degraded", make_run.process,
    )  # fmt: skip
    assert body["status"] == "degraded"
    failing = {c["name"] for c in body["checks"] if c["status"] == "fail"}
    assert failing == {"celery_worker"}
    assert _get(f"http://127.0.0.1:{make_run.port}/healthz")[0] == 200  # the web server stays

    _wait(lambda: _get(make_run.readyz)[0] == 200, 120, "ready again", make_run.process)
    after = make_run.record()["processes"]["worker"]
    assert after["restarts"] == before["restarts"] + 1
    assert after["pid"] != before["pid"]
    assert after["state"] == "running"
    run_out = make_run.data.parent / "run.out"
    _wait(lambda: "ready again" in run_out.read_text(), 10, "said ready again", make_run.process)
    assert "worker was killed by SIGKILL; restarting it in 1 s" in run_out.read_text()
