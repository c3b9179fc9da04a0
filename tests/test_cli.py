"""The CLI behaves like a Unix tool (docs/cli.md): with ``--json`` stdout is exactly one JSON
document, logs and progress go to stderr, and exit codes are 0 ok, 1 denied or a failed
check, 2 usage or configuration. Every ``--json`` command is run here; a few of them also
in a real ``manage.py`` process whose whole stdout is parsed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from brain.config import replace
from governance.actors import Actor
from governance.services.proposals import proposal_submit
from tests.factories import ConnectorConfigFactory

ROOT = Path(__file__).resolve().parents[1]
# A batch of the demo cloud the fixture captures (the mirror must hold what a proposal names).
NOTE = '{"batch_id": "batch000007", "note": "Glaze test tiles ready"}'


def run_json(*args: str, stderr: io.StringIO | None = None) -> tuple[object, int]:
    """(the one JSON document on stdout, the exit code)."""
    out = StringIO()
    try:
        call_command(*args, "--json", stdout=out, stderr=stderr or StringIO())
        code = 0
    except CommandError as error:
        code = error.returncode
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1, (args, text)  # one document, one line
    return json.loads(text), code


@pytest.fixture
def world(staff, settings, tmp_path):
    """A studio with staff, a demo cloud and its first snapshot, a connector and a proposal."""
    settings.BRAIN = replace(
        settings.BRAIN, demo_dir=str(tmp_path), audit_signing_key="cli-test-signing-key"
    )
    call_command("demo_cloud", "--studio", "north-kiln", stdout=StringIO())
    call_command("snapshot", "--studio", "north-kiln", "--source", "demo", stdout=StringIO())
    ConnectorConfigFactory(
        studio=staff.studio,
        kind="hubitat",
        name="hub1",
        settings={"host": "http://h", "app_id": 1},
        secret_env={"token": "HUB_TOKEN"},
    )
    proposal = proposal_submit(
        studio=staff.studio,
        capability_id="firestore.ops_note.append",
        input=json.loads(NOTE),
        rationale="Tiles are ready for review",
        actor=Actor.staff(staff.operator),
    )
    return proposal


def commands(proposal_id: int) -> list[tuple[list[str], int]]:
    """Every command that reports data, with arguments, and the exit code it should give."""
    pid = str(proposal_id)
    return [
        (["studio", "list"], 0),
        (["studio", "create", "east-glaze", "--name", "East Glaze"], 0),
        (["staff", "list", "--studio", "north-kiln"], 0),
        (["staff", "add", "--studio", "north-kiln", "--role", "viewer", "--username", "mo"], 0),
        (["staff", "role", "--studio", "north-kiln", "--username", "mo", "--role", "operator"], 0),
        (["staff", "remove", "--studio", "north-kiln", "--username", "mo"], 0),
        (["config", "show"], 0),
        (["config", "example"], 0),
        (["demo_cloud", "--studio", "north-kiln"], 0),
        (["snapshot", "--studio", "north-kiln", "--source", "demo"], 0),
        (["rebuild", "--studio", "north-kiln", "--source", "demo"], 0),
        (["rebuild", "--studio", "north-kiln", "--source", "demo", "--confirm"], 0),
        (["verify_audit"], 0),
        (["audit_digest"], 0),
        (["agents", "list", "--studio", "north-kiln"], 0),
        (["agents", "sync", "--studio", "north-kiln"], 0),
        (["kill_switch", "list"], 0),
        (["proposal", "list", "--studio", "north-kiln"], 0),
        (["proposal", "show", pid], 0),
        (["proposal", "execute", pid, "--as", "otto"], 1),  # not approved: denied
        (["proposal", "approve", pid, "--as", "otto", "--rationale", "Operators cannot"], 1),
        (["proposal", "approve", pid, "--as", "anna", "--rationale", "Checked the tiles"], 0),
        (
            [
                "proposal", "submit", "--studio", "north-kiln", "--capability",
                "firestore.ops_note.append", "--input", NOTE, "--rationale",
                "Tiles are ready for review", "--as", "otto",
            ],
            0,
        ),
        (["connector", "list"], 0),
        (["connector", "change", "--studio", "north-kiln", "hub1", "--disable"], 0),
        (
            [
                "connector", "add", "--studio", "north-kiln", "--kind", "hubitat", "--name",
                "hub2", "--setting", "host=http://h", "--setting", "app_id=2", "--secret",
                "token=HUB_TOKEN",
            ],
            0,
        ),
        (["connector", "remove", "--studio", "north-kiln", "hub2"], 0),
        (["kill_switch", "on", "--global", "--as", "otto", "--reason", "Stop for the test"], 0),
    ]  # fmt: skip


def test_every_json_command_prints_exactly_one_document_and_its_exit_code(world):
    for args, expected in commands(world.pk):
        document, code = run_json(*args)
        assert (args, code) == (args, expected)
        assert isinstance(document, dict), args


def test_readable_output_is_not_json(world):
    out = StringIO()
    call_command("proposal", "show", str(world.pk), stdout=out)
    assert out.getvalue().startswith(f"#{world.pk} pending_approval ")
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.getvalue())


def test_json_works_before_or_after_the_subcommand(world):
    out = StringIO()
    call_command("studio", "--json", "list", stdout=out)
    assert json.loads(out.getvalue()) == run_json("studio", "list")[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["snapshot", "--studio", "nope"], "no studio 'nope'"),
        (["proposal", "show", "999999"], "no proposal 999999"),
        (["proposal", "approve", "1", "--as", "nobody", "--rationale", "Does not matter"], "no active user"),
        (["staff", "role", "--studio", "north-kiln", "--username", "ghost", "--role", "admin"], "not a member"),
        (["kill_switch", "on", "--as", "otto", "--reason", "No scope given"], "name a scope"),
        (["verify_audit", "--studio", "nope"], "no studio"),
    ],
)  # fmt: skip
def test_usage_and_configuration_errors_exit_2_with_nothing_on_stdout(staff, args, message):
    out = StringIO()
    with pytest.raises(CommandError, match=message) as error:
        call_command(*args, "--json", stdout=out, stderr=StringIO())
    assert error.value.returncode == 2
    assert out.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_tqdm_bar_on_a_terminal_and_silent_with_v0(world):
    terminal = Terminal()
    document, _ = run_json(
        "rebuild", "--studio", "north-kiln", "--source", "demo", "--confirm", stderr=terminal
    )
    assert document["same"] is True
    assert "firestore:batches" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert "doc" in terminal.getvalue()  # tqdm's unit
    for name in ("rebuild", "verify_audit"):
        quiet = Terminal()
        args = (
            ["--studio", "north-kiln", "--source", "demo", "--confirm"] if name == "rebuild" else []
        )
        call_command(name, *args, verbosity=0, stdout=StringIO(), stderr=quiet)
        assert quiet.getvalue() == ""
    bar = Terminal()
    call_command("verify_audit", stdout=StringIO(), stderr=bar)
    assert "verify audit" in bar.getvalue() and "event" in bar.getvalue()


def test_off_a_terminal_progress_is_one_line_per_collection(world):
    err = StringIO()
    call_command(
        "snapshot", "--studio", "north-kiln", "--source", "demo", stdout=StringIO(), stderr=err
    )
    lines = err.getvalue().splitlines()
    assert any(line.strip().startswith("firestore:batches ") for line in lines)
    assert "\r" not in err.getvalue()


# --- real processes ------------------------------------------------------------------------


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """manage.py in its own interpreter, on this test's database (committed rows only)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    database = urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database, "BRAIN_LOG_LEVEL": "INFO", **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_a_real_process_prints_one_document_on_stdout_and_logs_on_stderr(studio, tmp_path):
    demo = manage("demo_cloud", "--studio", "north-kiln", "--json", BRAIN_DEMO_DIR=str(tmp_path))
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["out"] == str(tmp_path / "north-kiln")

    snapshot = manage(
        "snapshot", "--studio", "north-kiln", "--source", "demo", "--json",
        BRAIN_DEMO_DIR=str(tmp_path),
    )  # fmt: skip
    assert snapshot.returncode == 0, snapshot.stderr
    assert json.loads(snapshot.stdout)["counts"]  # `snapshot --json | jq .counts`
    logs = [json.loads(line) for line in snapshot.stderr.splitlines() if line.startswith("{")]
    assert logs and all({"timestamp", "level", "event"} <= set(line) for line in logs)

    rebuilt = manage(
        "rebuild", "--studio", "north-kiln", "--source", "demo", "--confirm", "--json",
        BRAIN_DEMO_DIR=str(tmp_path),
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["same"] is True
    assert "studio_state.rebuilt" in rebuilt.stderr

    verified = manage("verify_audit", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_a_real_process_exits_2_on_usage_and_1_on_a_denial(studio):
    missing = manage("snapshot", "--studio", "nowhere", "--json")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "no studio 'nowhere'" in missing.stderr
    unknown = manage("proposal", "frobnicate", "--json")
    assert (unknown.returncode, unknown.stdout) == (2, "")

    admin = manage(
        "staff", "add", "--studio", "north-kiln", "--role", "admin", "--username", "al", "--json"
    )
    assert admin.returncode == 0, admin.stderr
    assert json.loads(admin.stdout)["role"] == "admin"
    last = manage("staff", "remove", "--studio", "north-kiln", "--username", "al", "--json")
    assert last.returncode == 1
    assert json.loads(last.stdout)["reason_code"] == "LAST_ADMIN"
    assert "denied LAST_ADMIN" in last.stderr
