import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from governance.actors import Actor
from governance.models import Proposal
from tests.factories import ConnectorConfigFactory
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db


def run(*args):
    """Run `proposal ... --json`: stdout is exactly one JSON document."""
    out = StringIO()
    call_command("proposal", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_submit_approve_show_and_list_from_the_command_line(staff):
    submitted = run(
        "submit",
        "--studio",
        "north-kiln",
        "--capability",
        "firestore.ops_note.append",
        "--input",
        '{"batch_id": "b-7", "note": "Glaze test tiles ready"}',
        "--rationale",
        "Tiles are ready for review",
        "--as",
        "otto",
    )
    assert submitted["status"] == "pending_approval"
    approved = run(
        "approve", str(submitted["id"]), "--as", "anna", "--rationale", "Checked the tiles"
    )
    assert approved["status"] == "approved"
    assert approved["approvals"][0]["input_hash"] == submitted["input_hash"]
    listed = run("list", "--studio", "north-kiln", "--status", "approved")["proposals"]
    assert [p["id"] for p in listed] == [submitted["id"]]
    assert run("list", "--studio", "north-kiln", "--status", "pending_approval")["proposals"] == []


def test_a_denial_exits_non_zero_with_the_reason_code_and_show_reports_it(staff, submit):
    proposal = submit(actor=Actor.staff(staff.admin))
    with pytest.raises(CommandError, match=r"^denied SELF_APPROVAL: ") as denied:
        run("approve", str(proposal.pk), "--as", "ada", "--rationale", "I trust myself here")
    assert "\n" not in str(denied.value)
    with pytest.raises(CommandError, match="denied ROLE_REQUIRED"):
        run("approve", str(proposal.pk), "--as", "vera", "--rationale", "Viewer trying anyway")
    shown = run("show", str(proposal.pk))
    assert shown["last_denial"]["reason_code"] == "ROLE_REQUIRED"
    assert chain(staff.studio.pk)[-1][1:] == ("approval.grant_denied", "ROLE_REQUIRED")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{not json"], "--input is not JSON"),
        (["--input", "[1]"], "must be a JSON object"),
        (
            ["--input", '{"batch_id": "b-7"}'],
            "denied INPUT_INVALID: Input rejected by firestore.ops_note.append: note",
        ),
        (["--as", "nobody"], "no active user 'nobody'"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(staff, args, message):
    base = {
        "--studio": "north-kiln",
        "--capability": "firestore.ops_note.append",
        "--input": '{"batch_id": "b-7", "note": "fine note"}',
        "--rationale": "A proper rationale",
        "--as": "otto",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    with pytest.raises(CommandError, match=message):
        run("submit", *[item for pair in base.items() for item in pair])
    assert not Proposal.objects.exists()


def test_show_of_a_missing_proposal_fails(staff):
    with pytest.raises(CommandError, match="no proposal 12345"):
        run("show", "12345")


def test_agents_submit_with_agent_prefix(staff):
    ConnectorConfigFactory(
        studio=staff.studio,
        name="hubitat",
        settings={"host": "http://192.168.1.20", "app_id": 7, "command_allowlist": {"12": ["off"]}},
    )
    submitted = run(
        "submit",
        "--studio",
        "north-kiln",
        "--capability",
        "hubitat.device.command",
        "--input",
        '{"connector": "hubitat", "device_id": "12", "command": "off"}',
        "--rationale",
        "Kiln room heater left on",
        "--as",
        "agent:facilities-bot",
    )
    assert submitted["requested_by"] == "agent:facilities-bot"
    assert submitted["approvals_required"] == 2


def run_capturing(*args):
    """Run `proposal ... --json`, returning (the JSON document printed, the CommandError raised
    or None)."""
    out = StringIO()
    try:
        call_command("proposal", *args, "--json", stdout=out, stderr=StringIO())
        error = None
    except CommandError as raised:
        error = raised
    return json.loads(out.getvalue()), error


def test_execute_prints_the_denial_as_json_and_exits_non_zero(staff, submit):
    proposal = submit()
    printed, error = run_capturing("execute", str(proposal.pk), "--as", "otto")
    assert str(error).startswith("denied APPROVAL_REQUIRED: ")
    assert error.returncode == 1
    assert printed == {
        "denied": True,
        "reason_code": "APPROVAL_REQUIRED",
        "message": printed["message"],
        "explanation": "The proposal has not been approved by enough approvers yet.",
        "field_errors": {},
        "proposal": proposal.pk,
    }
    shown = run("show", str(proposal.pk))
    assert shown["last_denial"]["action"] == "execution.denied"
    assert shown["execution"] is None


def test_execute_from_the_command_line_runs_the_pilot(staff, settings, firestore_peer):
    from governance.services.execution_run import execution_run
    from tests.governance.pilots import NOTE, approved, firestore_pilot, writes

    writes(settings)
    firestore_pilot(staff.studio)
    proposal = approved(staff, "firestore.ops_note.append", NOTE)
    queued = run("execute", str(proposal.pk), "--as", "otto", "--studio", "north-kiln")
    assert queued["allowed"] and queued["status"] == "queued"
    execution_run(execution_id=queued["id"])  # what the worker does (worker tests run it for real)
    shown = run("show", str(proposal.pk))
    assert shown["status"] == "executed"
    assert shown["execution"]["status"] == "succeeded"
    assert shown["execution"]["result"]["note_id"] == f"{proposal.pk}__{queued['idempotency_key']}"


def test_execute_from_another_studio_is_a_tenant_mismatch(staff, submit):
    proposal = submit()
    printed, error = run_capturing(
        "execute", str(proposal.pk), "--as", "otto", "--studio", "south-clay"
    )
    assert printed["reason_code"] == "TENANT_MISMATCH" and error is not None
