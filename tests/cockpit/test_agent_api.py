"""The agent API over HTTP: auth, studio scoping, every denial code, every error status."""

import dataclasses
import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from governance.actors import Actor
from governance.models import (
    AgentClient,
    AuditEvent,
    IntakeReview,
    PolicyDecision,
    Proposal,
)
from governance.services.intake import intake_override
from governance.services.proposals import proposal_submit
from tests.factories import DelegationRevocationFactory
from tests.governance.conftest import NOTE_INPUT, chain
from tests.policy_support import issue, make_agent, make_delegation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_limits")]

NOTE = "firestore.ops_note.append"
URL = "/api/v1"


@dataclasses.dataclass
class Caller:
    client: Client
    token: str
    agent: AgentClient

    def headers(self, **extra):
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}", **extra}

    def get(self, path, **extra):
        return self.client.get(f"{URL}{path}", **self.headers(**extra))

    def post(self, path, body, **extra):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(
            f"{URL}{path}", data=data, content_type="application/json", **self.headers(**extra)
        )

    def submit(self, **overrides):
        body = {
            "capability": NOTE,
            "input": NOTE_INPUT,
            "rationale": "The kiln schedule changed this week",
            **overrides,
        }
        return self.post("/proposals", body)


@pytest.fixture
def agent_caller(staff):
    agent = make_agent(staff.studio, "ops-bot", "owner-ada")
    make_delegation(staff.studio, "ops-bot", "owner-ada")
    return Caller(Client(), issue(staff.admin, agent), agent)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


# Happy paths ------------------------------------------------------------------------------


def test_an_agent_lists_capabilities_with_what_its_delegations_cover(agent_caller):
    response = agent_caller.get("/capabilities")
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()}
    assert rows[NOTE]["delegated"] is True
    assert rows["firestore.batch.close"]["delegated"] is False
    assert rows[NOTE]["max_calls_per_hour"] == 8
    assert rows[NOTE]["input_schema"]["properties"]["note"]


def test_an_agent_submits_a_proposal_and_reads_its_status_and_trace(staff, agent_caller):
    response = agent_caller.submit()
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "pending_approval"
    assert created["requested_by"] == "agent:ops-bot"
    proposal = Proposal.objects.get()
    assert (proposal.requested_by_type, proposal.requested_by_id) == ("agent", "ops-bot")
    status = agent_caller.get(f"/proposals/{proposal.pk}")
    assert status.status_code == 200 and status.json()["input_hash"] == proposal.input_hash
    trace = agent_caller.get(f"/proposals/{proposal.pk}/trace").json()
    [decision] = trace["decisions"]
    assert decision["allowed"] is True and decision["code"] == "ALLOWED"
    assert decision["resource_owner"] == "owner-ada"
    assert [c["check"] for c in decision["checks"]] == [
        "endpoint_limit",
        "capability_known",
        "actor_is_agent",
        "delegation_exists",
        "owner_matches_resource",
        "not_revoked",
        "in_force",
        "scope_covers_capability",
        "intake:illegal_content",
        "intake:weaponization",
        "intake:ip_infringement",
        "intake:fraud_risk",
        "proposal_accepted",
    ]
    assert [a for _, a, _ in chain(staff.studio.pk)][-2:] == [
        "proposal.submitted",
        "policy.submission.allowed",
    ]


def test_a_repeated_idempotency_key_returns_the_first_proposal_and_a_different_body_conflicts(
    agent_caller,
):
    first = agent_caller.post(
        "/proposals",
        {"capability": NOTE, "input": NOTE_INPUT, "rationale": "The kiln schedule changed"},
        HTTP_IDEMPOTENCY_KEY="note-2026-11-27",
    )
    again = agent_caller.post(
        "/proposals",
        {"capability": NOTE, "input": NOTE_INPUT, "rationale": "The kiln schedule changed"},
        HTTP_IDEMPOTENCY_KEY="note-2026-11-27",
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert Proposal.objects.count() == 1
    conflict = agent_caller.post(
        "/proposals",
        {"capability": NOTE, "input": NOTE_INPUT, "rationale": "Another reason entirely"},
        HTTP_IDEMPOTENCY_KEY="note-2026-11-27",
    )
    assert_error(conflict, 409, "IDEMPOTENCY_KEY_REUSED")
    assert Proposal.objects.count() == 1


# Authentication and studio scoping ----------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer sbk_00000000_" + "a" * 43,
    ],
)
def test_a_missing_or_bad_token_is_401_json(agent_caller, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = Client().get(f"{URL}/capabilities", **headers)
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working_at_once(staff, agent_caller):
    from governance.models import AgentToken
    from governance.services.agents import token_revoke

    assert agent_caller.get("/capabilities").status_code == 200
    token_revoke(
        studio=staff.studio,
        token_pk=AgentToken.objects.get().pk,
        actor=Actor.staff(staff.admin),
        reason="Rotating after the audit",
    )
    assert_error(agent_caller.get("/capabilities"), 401, "UNAUTHENTICATED")


def test_another_studios_proposals_are_404_like_missing_ones(staff, agent_caller):
    theirs = proposal_submit(
        studio=staff.other_studio,
        capability_id=NOTE,
        input=NOTE_INPUT,
        rationale="South Clay's own proposal here",
        actor=Actor.staff(staff.outsider),
    )
    for path in (f"/proposals/{theirs.pk}", f"/proposals/{theirs.pk}/trace", "/proposals/999999"):
        assert_error(agent_caller.get(path), 404, "NOT_FOUND")


def test_an_agent_reads_only_its_own_decisions(staff, agent_caller):
    denied = agent_caller.submit(
        capability="firestore.batch.close",
        input={"batch_id": "b", "reason": "finished and picked up"},
    )
    decision_id = denied.json()["decision_id"]
    mine = agent_caller.get(f"/decisions/{decision_id}")
    assert mine.status_code == 200 and mine.json()["code"] == "DELEGATION_SCOPE_MISSING"
    other = make_agent(staff.studio, "other-bot", "owner-ada")
    other_caller = Caller(Client(), issue(staff.admin, other), other)
    assert_error(other_caller.get(f"/decisions/{decision_id}"), 404, "NOT_FOUND")


# Every denial code through the API ----------------------------------------------------------


def _deny(caller, status, code, **overrides):
    response = caller.submit(**overrides)
    body = assert_error(response, status, code)
    assert not Proposal.objects.exists()
    decision = PolicyDecision.objects.get(pk=body["decision_id"])
    assert (decision.allowed, decision.code) == (False, code)
    return body, decision


def test_denied_without_any_delegation(staff):
    agent = make_agent(staff.studio, "lonely-bot", "owner-ada")
    _deny(Caller(Client(), issue(staff.admin, agent), agent), 403, "DELEGATION_MISSING")


def test_denied_when_the_delegation_expired(staff):
    agent = make_agent(staff.studio, "late-bot", "owner-ada")
    make_delegation(
        staff.studio, "late-bot", "owner-ada", expires_at=timezone.now() - dt.timedelta(minutes=5)
    )
    _, decision = _deny(
        Caller(Client(), issue(staff.admin, agent), agent), 403, "DELEGATION_EXPIRED"
    )
    assert "expired at" in decision.trace.last().explanation


def test_denied_when_the_delegation_was_revoked_locally(staff, agent_caller):
    delegation = make_delegation(staff.studio, "ops-bot", "owner-ben")
    DelegationRevocationFactory(
        delegation=delegation, revoked_by=staff.admin, reason="Ben left", revoked_at=timezone.now()
    )
    _deny(agent_caller, 403, "DELEGATION_REVOKED", on_behalf_of="owner-ben")


def test_denied_acting_on_another_owners_resources(agent_caller):
    body, decision = _deny(agent_caller, 403, "DELEGATION_OWNER_MISMATCH", on_behalf_of="owner-ben")
    assert decision.resource_owner_id == "owner-ben"
    assert "owner-ben" in body["message"] or "another owner" in body["message"]


def test_denied_for_a_capability_outside_the_scopes(agent_caller):
    _deny(
        agent_caller,
        403,
        "DELEGATION_SCOPE_MISSING",
        capability="finance.reconciliation.adjust",
        input={"order_id": "o1", "flag": "amount_mismatch", "note": "Off by 200"},
    )


def test_denied_when_presenting_another_agents_delegation(staff, agent_caller):
    theirs = make_delegation(staff.studio, "other-bot", "owner-ada")
    _, decision = _deny(agent_caller, 403, "DELEGATION_ACTOR_MISMATCH", delegation_id=theirs.pk)
    assert "other-bot" in decision.trace.last().explanation


def test_presenting_its_own_delegation_is_allowed(staff, agent_caller):
    mine = make_delegation(staff.studio, "ops-bot", "owner-ada")
    assert agent_caller.submit(delegation_id=mine.pk).status_code == 201
    assert PolicyDecision.objects.get().delegation_id == mine.pk


def test_denied_by_the_intake_policy_into_the_review_queue(staff, agent_caller):
    body, decision = _deny(
        agent_caller,
        403,
        "BLOCKED_BY_INTAKE_POLICY",
        input={"batch_id": "b7", "note": "Fire the ghost gun grips tonight"},
    )
    review = IntakeReview.objects.get(pk=body["intake_id"])
    assert review.status == "pending" and review.categories == ["weaponization"]
    assert review.submission["input"]["note"] == "Fire the ghost gun grips tonight"
    assert decision.intake_review == review
    assert [a for _, a, _ in chain(staff.studio.pk)][-2:] == [
        "intake.blocked",
        "policy.submission.denied",
    ]
    status = agent_caller.get(f"/intake/{review.pk}").json()
    assert (status["status"], status["categories"]) == ("pending", ["weaponization"])


def test_a_granted_intake_override_creates_the_agents_proposal(staff, agent_caller):
    body = agent_caller.submit(
        input={"batch_id": "b7", "note": "Glaze the Disney mugs for Ana"}
    ).json()
    review = intake_override(
        studio=staff.studio,
        review_id=body["intake_id"],
        actor=Actor.staff(staff.approver),
        reason_code="staff_override_licensed",
        rationale="The studio holds the licence for this class",
    )
    assert review.status == "granted" and review.proposal.requested_by_id == "ops-bot"
    assert agent_caller.get(f"/intake/{review.pk}").json()["proposal_id"] == review.proposal_id


def test_denied_over_the_endpoint_limit_with_retry_after(staff, agent_caller, settings):
    settings.BRAIN = dataclasses.replace(settings.BRAIN, rate_limit_proposal_create=2)
    assert agent_caller.submit().status_code == 201
    assert agent_caller.submit().status_code == 201
    response = agent_caller.submit()
    body = assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60 and body["retry_after"] == int(
        response["Retry-After"]
    )
    assert Proposal.objects.count() == 2
    assert chain(staff.studio.pk)[-1][1:] == ("rate_limit_triggered", "RATE_LIMITED")


def test_submissions_fail_safe_when_redis_is_down_but_reads_keep_working(
    staff, agent_caller, redis_down
):
    body = assert_error(agent_caller.submit(), 503, "RATE_LIMIT_UNAVAILABLE")
    assert body["decision_id"]
    assert not Proposal.objects.exists()
    assert agent_caller.get("/capabilities").status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"capability": "firestore.everything.delete"}, 422, "CAPABILITY_UNKNOWN"),
        ({"rationale": "short"}, 422, "RATIONALE_REQUIRED"),
        ({"input": {"batch_id": "b1", "note": "hey"}}, 422, "INPUT_INVALID"),
    ],
)
def test_service_denials_have_their_status_and_a_decision(agent_caller, overrides, status, code):
    body = assert_error(agent_caller.submit(**overrides), status, code)
    assert PolicyDecision.objects.get(pk=body["decision_id"]).code == code


# Malformed requests: always a 4xx with the JSON error shape, never a 500 -------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "MALFORMED_REQUEST"),
        ('{"capability": NaN}', 400, "MALFORMED_REQUEST"),
        ('{"x": 1e999}', 400, "MALFORMED_REQUEST"),
        (b"\xff\xfe\x00garbage", 400, "MALFORMED_REQUEST"),
        (
            json.dumps({"capability": NOTE, "input": NOTE_INPUT, "rationale": "why\u0000" * 4}),
            422,
            "VALIDATION_ERROR",
        ),
        (
            json.dumps(
                {"capability": NOTE, "input": {"batch_id\u0000": "b"}, "rationale": "x" * 20}
            ),
            422,
            "VALIDATION_ERROR",
        ),
        ("[]", 422, "VALIDATION_ERROR"),
        ('"just a string"', 422, "VALIDATION_ERROR"),
        ("{}", 422, "VALIDATION_ERROR"),
        (
            json.dumps(
                {"capability": NOTE, "input": NOTE_INPUT, "rationale": "x" * 20, "surprise": 1}
            ),
            422,
            "VALIDATION_ERROR",
        ),
        (
            json.dumps({"capability": NOTE, "input": [], "rationale": "x" * 20}),
            422,
            "VALIDATION_ERROR",
        ),
        (
            json.dumps({"capability": "", "input": {}, "rationale": "x" * 20}),
            422,
            "VALIDATION_ERROR",
        ),
    ],
)
def test_malformed_bodies_are_4xx_with_code_message_and_request_id(
    agent_caller, body, status, code
):
    before = AuditEvent.objects.count()
    error = assert_error(agent_caller.post("/proposals", body), status, code)
    if code == "VALIDATION_ERROR":
        assert error["field_errors"]
    assert not Proposal.objects.exists()
    assert AuditEvent.objects.count() == before  # nothing half-written


def test_an_unknown_field_is_named(agent_caller):
    body = agent_caller.submit(surprise=True).json()
    assert "surprise" in body["field_errors"]


@pytest.mark.parametrize("path", ["/proposals/0", "/proposals/abc", f"/proposals/{2**70}"])
def test_bad_ids_are_4xx(agent_caller, path):
    response = agent_caller.get(path)
    assert response.status_code in (404, 422)
    if response["Content-Type"].startswith("application/json"):
        assert response.json()["request_id"]


def test_the_openapi_document_is_served_without_a_token():
    response = Client().get(f"{URL}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {"/api/v1/capabilities", "/api/v1/proposals"}
    assert schema["components"]["securitySchemes"]["AgentBearer"]["scheme"] == "bearer"


def test_tokens_never_reach_the_logs(agent_caller, json_logs):
    agent_caller.submit()
    agent_caller.get("/capabilities")
    Client().get(f"{URL}/capabilities", HTTP_AUTHORIZATION=f"Bearer {agent_caller.token}x")
    # Even a careless log line that prints the token keeps only its prefix.
    import structlog

    structlog.stdlib.get_logger("cockpit.test").warning(
        "careless", detail=f"got {agent_caller.token}"
    )
    text = json_logs.text()
    assert agent_caller.token not in text
    assert agent_caller.token.split("_", 2)[2][:20] not in text
    prefix = agent_caller.token.split("_")[1]
    assert f"sbk_{prefix}_[redacted]" in text


def test_the_api_and_the_cli_render_a_proposal_in_one_shape(staff, agent_caller):
    from io import StringIO

    from django.core.management import call_command

    from governance.schemas import ProposalOut

    submitted = agent_caller.submit().json()
    read = agent_caller.get(f"/proposals/{submitted['id']}").json()
    out = StringIO()
    call_command("proposal", "show", str(submitted["id"]), "--json", stdout=out)
    shown = json.loads(out.getvalue())
    # Every field of the API's ProposalOut, with the same value and format, in the CLI's view.
    assert set(read) == set(ProposalOut.model_fields)
    assert {name: shown[name] for name in read} == read
    assert read["created_at"].endswith("Z")
