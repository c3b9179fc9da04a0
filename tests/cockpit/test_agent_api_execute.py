"""The agent API's execute and kill-switch endpoints over HTTP: the gateway's denials mapped
to 403/409/429/503 with ``{code, message, request_id}``, and engaging a switch."""

import dataclasses
import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from governance.actors import Actor
from governance.models import Execution, KillSwitchEvent
from governance.selectors.execution import engaged_kill_switch
from governance.services.kill_switches import kill_switch_engage
from tests.factories import ConnectorConfigFactory
from tests.governance.pilots import NOTE, approved, firestore_pilot, submitted, writes
from tests.policy_support import issue, make_agent, make_delegation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_limits")]

URL = "/api/v1"
CAPABILITY = "firestore.ops_note.append"


@dataclasses.dataclass
class Caller:
    client: Client
    token: str

    def post(self, path, body=None, **extra):
        return self.client.post(
            f"{URL}{path}",
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
            **extra,
        )

    def get(self, path):
        return self.client.get(f"{URL}{path}", HTTP_AUTHORIZATION=f"Bearer {self.token}")


@pytest.fixture
def bot(staff):
    return make_agent(staff.studio, "ops-bot", "owner-ada")


@pytest.fixture
def caller(staff, bot):
    return Caller(Client(), issue(staff.admin, bot))


@pytest.fixture
def pilot(staff, settings, firestore_peer):
    writes(settings)
    return firestore_pilot(staff.studio)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["code"], bool(body["message"])) == (code, True)
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_an_agent_with_a_delegation_executes_an_approved_proposal(staff, pilot, caller):
    make_delegation(staff.studio)
    proposal = approved(staff, CAPABILITY, NOTE)
    response = caller.post(f"/proposals/{proposal.pk}/execute")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["proposal_id"], body["status"], body["approval_state"]) == (
        proposal.pk,
        "queued",
        "approved",
    )
    execution = Execution.objects.get(pk=body["id"])
    assert (execution.requested_by_type, execution.owner_id) == ("agent", "owner-ada")


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("none", "DELEGATION_MISSING"),
        ("expired", "DELEGATION_EXPIRED"),
        ("revoked", "DELEGATION_REVOKED"),
        ("scope", "DELEGATION_SCOPE_MISSING"),
        ("other_owner", "DELEGATION_OWNER_MISMATCH"),
        ("other_agent", "DELEGATION_ACTOR_MISMATCH"),
    ],
)
def test_each_delegation_denial_is_a_403_with_a_readable_trace(staff, pilot, caller, setup, code):
    now = timezone.now()
    body = None
    if setup == "expired":
        make_delegation(
            staff.studio,
            issued_at=now - dt.timedelta(days=2),
            expires_at=now - dt.timedelta(hours=1),
        )
    elif setup == "revoked":
        make_delegation(staff.studio, cloud_revoked_at=now - dt.timedelta(minutes=1))
    elif setup == "scope":
        make_delegation(staff.studio, scopes=("capability:hubitat.device.command:execute",))
    elif setup == "other_owner":
        # The agent acts for owner-ada; only owner-bob delegated to it.
        make_delegation(staff.studio, owner_id="owner-bob")
    elif setup == "other_agent":
        make_delegation(staff.studio)
        body = {"delegation_id": make_delegation(staff.studio, "other-bot").pk}
    proposal = approved(staff, CAPABILITY, NOTE)
    error = assert_error(caller.post(f"/proposals/{proposal.pk}/execute", body), 403, code)
    trace = caller.get(f"/decisions/{error['decision_id']}").json()
    assert trace["code"] == code and any(check["passed"] is False for check in trace["checks"])
    assert not Execution.objects.exists()


def test_a_proposal_not_yet_approved_is_a_409(staff, pilot, caller):
    make_delegation(staff.studio)
    proposal = submitted(staff, CAPABILITY, NOTE)
    assert_error(caller.post(f"/proposals/{proposal.pk}/execute"), 409, "APPROVAL_REQUIRED")


def test_a_proposal_runs_once_the_second_call_is_a_409(staff, pilot, caller):
    make_delegation(staff.studio)
    proposal = approved(staff, CAPABILITY, NOTE)
    assert caller.post(f"/proposals/{proposal.pk}/execute").status_code == 202
    assert_error(caller.post(f"/proposals/{proposal.pk}/execute"), 409, "EXECUTION_EXISTS")


def test_a_kill_switch_is_a_403_blocked_by_policy(staff, pilot, caller):
    make_delegation(staff.studio)
    proposal = approved(staff, CAPABILITY, NOTE)
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Stop notes for the audit")
    body = assert_error(caller.post(f"/proposals/{proposal.pk}/execute"), 403, "BLOCKED_BY_POLICY")
    assert "Stop notes for the audit" in body["message"]


def test_another_studios_proposal_is_a_404(staff, pilot, caller):
    make_delegation(staff.studio)
    from governance.services.proposals import proposal_submit

    theirs = proposal_submit(
        studio=staff.other_studio,
        capability_id=CAPABILITY,
        input=NOTE,
        rationale="Their own kiln schedule",
        actor=Actor.staff(staff.outsider),
    )
    assert_error(caller.post(f"/proposals/{theirs.pk}/execute"), 404, "NOT_FOUND")


def test_the_execute_endpoint_limit_answers_429_with_retry_after(staff, pilot, caller, settings):
    settings.BRAIN = dataclasses.replace(settings.BRAIN, rate_limit_execute=2)
    proposal = submitted(staff, CAPABILITY, NOTE)
    for _ in range(2):
        caller.post(f"/proposals/{proposal.pk}/execute")
    response = caller.post(f"/proposals/{proposal.pk}/execute")
    body = assert_error(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) == body["retry_after"] > 0


def test_redis_down_refuses_the_execution_with_a_503(staff, pilot, caller, redis_down):
    make_delegation(staff.studio)
    proposal = approved(staff, CAPABILITY, NOTE)
    assert_error(caller.post(f"/proposals/{proposal.pk}/execute"), 503, "RATE_LIMIT_UNAVAILABLE")
    assert not Execution.objects.exists()


def test_unknown_fields_are_a_422_and_no_token_a_401(staff, caller):
    proposal = submitted(staff, CAPABILITY, NOTE)
    assert_error(
        caller.post(f"/proposals/{proposal.pk}/execute", {"force": True}), 422, "VALIDATION_ERROR"
    )
    anonymous = Client().post(f"{URL}/proposals/{proposal.pk}/execute")
    assert_error(anonymous, 401, "UNAUTHENTICATED")


# -- kill switch -------------------------------------------------------------------------------


def test_an_agent_engages_its_studio_switch_and_a_second_time_is_a_409(staff, caller):
    body = {"scope": "studio", "reason": "Smoke readings on kiln 2"}
    response = caller.post("/kill-switch", body)
    assert response.status_code == 201, response.content
    assert response.json()["label"] == "studio north-kiln"
    assert engaged_kill_switch(CAPABILITY, studio_id=staff.studio.pk) is not None
    event = KillSwitchEvent.objects.get()
    assert (event.actor_type, event.actor_id) == ("agent", "ops-bot")
    assert_error(caller.post("/kill-switch", body), 409, "ILLEGAL_TRANSITION")


def test_an_agent_engages_a_capability_or_a_connector_of_its_studio(staff, caller):
    ConnectorConfigFactory(studio=staff.studio, kind="hubitat", name="hub1", settings={})
    capability = caller.post(
        "/kill-switch",
        {"scope": "capability", "capability": CAPABILITY, "reason": "Notes look wrong today"},
    )
    assert capability.status_code == 201 and capability.json()["label"] == CAPABILITY
    connector = caller.post(
        "/kill-switch", {"scope": "connector", "connector": "hub1", "reason": "Hub is rewired"}
    )
    assert connector.status_code == 201 and connector.json()["label"] == "connector hub1"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"scope": "global", "reason": "short"}, 422, "RATIONALE_REQUIRED"),
        ({"scope": "capability", "reason": "No capability named"}, 422, "VALIDATION_ERROR"),
        (
            {"scope": "capability", "capability": "stripe.refund", "reason": "Unknown capability"},
            422,
            "CAPABILITY_UNKNOWN",
        ),
        (
            {"scope": "connector", "connector": "nope", "reason": "No such connector"},
            404,
            "NOT_FOUND",
        ),
        ({"scope": "everything", "reason": "Not a scope at all"}, 422, "VALIDATION_ERROR"),
    ],
)
def test_bad_kill_switch_requests_are_answered_plainly(staff, caller, body, status, code):
    assert_error(caller.post("/kill-switch", body), status, code)
    assert not KillSwitchEvent.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"rationale": "The kiln schedule\x00 changed"},
        {"on_behalf_of": "owner\x00ada"},
        {"input": {"batch_id": "b1", "note": "nul \x00 inside"}},
        {"capability": "firestore\x00"},
    ],
)
def test_text_with_nul_characters_is_invalid_input_not_a_server_error(staff, caller, overrides):
    body = {"capability": CAPABILITY, "input": NOTE, "rationale": "The kiln schedule changed"}
    assert_error(caller.post("/proposals", {**body, **overrides}), 422, "VALIDATION_ERROR")
    kill = caller.post("/kill-switch", {"scope": "global", "reason": "Stop \x00 everything now"})
    assert_error(kill, 422, "VALIDATION_ERROR")
