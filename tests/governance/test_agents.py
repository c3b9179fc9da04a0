import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from governance.actors import Actor
from governance.errors import Denied
from governance.models import AgentClient, AgentToken, AuditEvent, Delegation, PolicyDecision
from governance.reasons import ReasonCode
from governance.selectors.policy import delegation_list
from governance.services.agents import (
    agent_create_local,
    agents_sync_from_mirror,
    resolve_actor,
    token_issue,
    token_revoke,
    token_rotate,
)
from governance.services.delegations import (
    delegation_create_local,
    delegation_decision,
    delegation_pending,
    delegation_revoke_local,
)
from tests.governance.conftest import chain
from tests.policy_support import issue, make_agent, make_delegation, mirror

pytestmark = pytest.mark.django_db

NOTE = "firestore.ops_note.append"
T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def dump_database_text() -> str:
    """Every text column of every policy and audit table, as one string."""
    tables = [
        "governance_agenttoken",
        "governance_agentclient",
        "governance_auditevent",
        "governance_policydecision",
        "governance_decisiontrace",
    ]
    rows = []
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            rows.extend(str(row) for row in cursor.fetchall())
    return "\n".join(rows)


# Tokens -----------------------------------------------------------------------------------


def test_an_issued_token_is_shown_once_and_only_its_hash_is_stored(staff, json_logs):
    agent = make_agent(staff.studio)
    token, text = token_issue(
        studio=staff.studio, agent_pk=agent.pk, actor=Actor.staff(staff.admin)
    )
    assert text.startswith(f"sbk_{token.prefix}_")
    assert token.prefix in dump_database_text()  # the dump does see the token's row
    assert text not in dump_database_text()
    assert text.split("_", 2)[2] not in dump_database_text()
    resolved = resolve_actor(text)
    assert resolved is not None and resolved.actor_id == "ops-bot"
    assert text not in json_logs.text()
    assert chain(staff.studio.pk) == [(1, "agent.token_issued", "ALLOWED")]
    event = AuditEvent.objects.get()
    assert event.metadata["token_prefix"] == token.prefix and text not in event.metadata_json


def test_a_token_resolves_to_its_agent_studio_owner_and_live_scopes(staff):
    agent = make_agent(staff.studio, owner_id="owner-ada")
    make_delegation(staff.studio, scopes=("capability:*:execute",))
    make_delegation(
        staff.studio,
        scopes=("capability:hubitat.devices.read:execute",),
        expires_at=timezone.now() - dt.timedelta(minutes=1),
    )
    resolved = resolve_actor(issue(staff.admin, agent))
    assert resolved is not None
    assert (resolved.actor_type, resolved.actor_id, resolved.owner, resolved.studio) == (
        "agent",
        "ops-bot",
        "owner-ada",
        staff.studio,
    )
    assert resolved.effective_scopes == {"capability:*:execute"}
    assert resolved.may_use("firestore.batch.close")


def test_resolution_costs_a_constant_number_of_queries(staff, django_assert_num_queries):
    agent = make_agent(staff.studio)
    for _ in range(5):
        make_delegation(staff.studio)
    text = issue(staff.admin, agent)
    resolve_actor(text)  # stamps last_used_at
    with django_assert_num_queries(2):
        assert resolve_actor(text) is not None


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t.replace("sbk_", "sbx_"),
        lambda t: "",
        lambda t: t + "x",
    ],
)
def test_a_wrong_token_resolves_to_nobody(staff, spoil):
    text = issue(staff.admin, make_agent(staff.studio))
    assert resolve_actor(spoil(text)) is None


def test_expired_revoked_and_disabled_tokens_resolve_to_nobody(staff):
    agent = make_agent(staff.studio)
    with time_machine.travel(T0, tick=False):
        text = issue(staff.admin, agent, ttl=dt.timedelta(hours=2))
        assert resolve_actor(text) is not None
        assert resolve_actor(text, at=T0 + dt.timedelta(hours=2)) is None
        other = issue(staff.admin, agent)
        token = AgentToken.objects.get(prefix=other.split("_")[1])
        token_revoke(
            studio=staff.studio,
            token_pk=token.pk,
            actor=Actor.staff(staff.admin),
            reason="Laptop with the token was lost",
        )
        assert resolve_actor(other) is None
        third = issue(staff.admin, agent)
        AgentClient.objects.filter(pk=agent.pk).update(disabled=True)
        assert resolve_actor(third) is None


def test_an_agent_of_a_studio_this_runtime_does_not_serve_resolves_to_nobody(staff, settings):
    import dataclasses

    text = issue(staff.admin, make_agent(staff.studio))
    settings.BRAIN = dataclasses.replace(settings.BRAIN, allowed_studios=("south-clay",))
    assert resolve_actor(text) is None
    settings.BRAIN = dataclasses.replace(settings.BRAIN, allowed_studios=("north-kiln",))
    assert resolve_actor(text) is not None


def test_last_used_is_stamped_at_most_once_a_minute(staff):
    agent = make_agent(staff.studio)
    with time_machine.travel(T0, tick=False):
        text = issue(staff.admin, agent)
        resolve_actor(text)
    token = AgentToken.objects.get()
    assert token.last_used_at == T0
    resolve_actor(text, at=T0 + dt.timedelta(seconds=30))
    token.refresh_from_db()
    assert token.last_used_at == T0
    resolve_actor(text, at=T0 + dt.timedelta(seconds=61))
    token.refresh_from_db()
    assert token.last_used_at == T0 + dt.timedelta(seconds=61)


def test_rotation_issues_a_new_token_and_revokes_the_old_one(staff):
    agent = make_agent(staff.studio)
    old_text = issue(staff.admin, agent)
    old = AgentToken.objects.get()
    new, new_text = token_rotate(
        studio=staff.studio, token_pk=old.pk, actor=Actor.staff(staff.admin)
    )
    old.refresh_from_db()
    assert old.revoked_at is not None and old.revoked_reason == "rotated"
    assert new.rotated_from == old
    assert resolve_actor(old_text) is None
    assert resolve_actor(new_text).actor_id == "ops-bot"
    assert [a for _, a, _ in chain(staff.studio.pk)] == [
        "agent.token_issued",
        "agent.token_rotated",
    ]
    with pytest.raises(Denied) as denied:
        token_rotate(studio=staff.studio, token_pk=old.pk, actor=Actor.staff(staff.admin))
    assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION


def test_only_a_studio_admin_issues_tokens_and_only_for_its_own_agents(staff):
    agent = make_agent(staff.studio)
    with pytest.raises(Denied) as denied:
        token_issue(studio=staff.studio, agent_pk=agent.pk, actor=Actor.staff(staff.approver))
    assert denied.value.code == ReasonCode.ROLE_REQUIRED
    with pytest.raises(Denied) as denied:
        token_issue(studio=staff.other_studio, agent_pk=agent.pk, actor=Actor.staff(staff.outsider))
    assert denied.value.code == ReasonCode.TENANT_MISMATCH
    assert not AgentToken.objects.exists()


def test_a_token_lives_no_longer_than_the_configured_maximum(staff, settings):
    agent = make_agent(staff.studio)
    with pytest.raises(Denied) as denied:
        token_issue(
            studio=staff.studio,
            agent_pk=agent.pk,
            actor=Actor.staff(staff.admin),
            ttl=settings.BRAIN.agent_token_ttl + dt.timedelta(days=1),
        )
    assert denied.value.code == ReasonCode.INPUT_INVALID


def test_a_local_agent_gets_a_prefixed_id_and_is_audited(staff):
    agent = agent_create_local(
        studio=staff.studio, name="Glaze Helper", owner_id="ada", actor=Actor.staff(staff.admin)
    )
    assert agent.agent_id.startswith("local-glaze-helper-")
    assert agent.source == "local"
    assert chain(staff.studio.pk) == [(1, "agent.created", "ALLOWED")]


def test_a_local_agents_staff_owner_must_be_a_member_of_the_studio(staff):
    """Bug 11: the owner was free text; an outsider (another studio's admin) or a name
    nobody has is refused with a clear error, audited, and no agent is made."""
    for owner in ("oscar", "nobody-at-all"):
        with pytest.raises(Denied) as denied:
            agent_create_local(
                studio=staff.studio, name="Kiln Bot", owner_id=owner, actor=Actor.staff(staff.admin)
            )
        assert denied.value.code == ReasonCode.INPUT_INVALID
        assert "not a member of North Kiln Ceramics" in denied.value.field_errors["owner_id"][0]
    assert not AgentClient.objects.exists()
    assert [action for _, action, _ in chain(staff.studio.pk)] == ["agent.create_denied"] * 2


# Sync from the cloud mirror ---------------------------------------------------------------


def test_sync_mirrors_cloud_agents_and_delegations(staff):
    mirror(
        staff.studio,
        "agentClients",
        "ops-bot",
        {"name": "Ops Bot", "ownerUid": "owner-ada", "status": "active"},
    )
    mirror(
        staff.studio,
        "agentClients",
        "old-bot",
        {"name": "Old", "ownerUid": "owner-ada", "status": "disabled"},
    )
    mirror(
        staff.studio,
        "delegations",
        "del-1",
        {
            "agent": "ops-bot",
            "owner": "owner-ada",
            "scopes": [f"capability:{NOTE}:execute", "everything", 7],
            "issued_at": "2026-11-01T00:00:00.000000Z",
            "expires_at": "2026-12-31T00:00:00.000000Z",
            "revoked_at": None,
        },
    )
    mirror(staff.studio, "delegations", "del-bad", {"agent": "ops-bot", "scopes": []})
    counts = agents_sync_from_mirror(studio=staff.studio)
    assert counts["agents_created"] == 2 and counts["delegations_created"] == 1
    assert counts["delegations_skipped"] == 1 and counts["scopes_dropped"] == 1
    ops = AgentClient.objects.get(agent_id="ops-bot")
    assert (ops.name, ops.owner_id, ops.source, ops.is_active) == (
        "Ops Bot",
        "owner-ada",
        "cloud",
        True,
    )
    assert not AgentClient.objects.get(agent_id="old-bot").is_active
    delegation = Delegation.objects.get(cloud_doc_id="del-1")
    assert delegation.scopes == [f"capability:{NOTE}:execute"]
    assert delegation.expires_at == dt.datetime(2026, 12, 31, tzinfo=dt.UTC)
    assert chain(staff.studio.pk) == [(1, "agents.synced", "ALLOWED")]
    assert agents_sync_from_mirror(studio=staff.studio)["agents_updated"] == 0
    assert len(chain(staff.studio.pk)) == 1  # nothing changed: nothing audited


def test_the_cloud_stays_authoritative_for_content_but_a_local_revocation_always_wins(staff):
    data = {
        "agentId": "ops-bot",
        "ownerUid": "owner-ada",
        "scopes": [f"capability:{NOTE}:execute"],
        "issuedAt": "2026-11-01T00:00:00.000000Z",
        "expiresAt": "2027-01-31T00:00:00.000000Z",
    }
    mirror(staff.studio, "delegations", "del-1", data)
    agents_sync_from_mirror(studio=staff.studio)
    delegation = Delegation.objects.get()
    delegation_revoke_local(
        studio=staff.studio,
        delegation_id=delegation.pk,
        actor=Actor.staff(staff.admin),
        reason="Agent misbehaved on Tuesday",
    )
    mirror(staff.studio, "delegations", "del-1", {**data, "scopes": ["capability:*:execute"]})
    agents_sync_from_mirror(studio=staff.studio)
    delegation.refresh_from_db()
    assert delegation.scopes == ["capability:*:execute"]  # the cloud's content
    assert delegation_list(staff.studio.pk)[0].state == "revoked_locally"  # our revocation


def test_a_document_deleted_from_the_cloud_removes_the_grant(staff):
    mirror(staff.studio, "agentClients", "ops-bot", {"name": "Ops Bot", "owner": "owner-ada"})
    mirror(
        staff.studio,
        "delegations",
        "del-1",
        {
            "agent": "ops-bot",
            "owner": "owner-ada",
            "scopes": ["capability:*:execute"],
            "issued_at": "2026-11-01T00:00:00.000000Z",
            "expires_at": "2027-11-01T00:00:00.000000Z",
        },
    )
    agents_sync_from_mirror(studio=staff.studio)
    text = issue(staff.admin, AgentClient.objects.get())
    assert resolve_actor(text).effective_scopes == {"capability:*:execute"}
    gone = timezone.now()
    mirror(staff.studio, "delegations", "del-1", {}, deleted_at=gone)
    counts = agents_sync_from_mirror(studio=staff.studio)
    assert counts["delegations_removed"] == 1
    assert resolve_actor(text).effective_scopes == frozenset()
    mirror(staff.studio, "agentClients", "ops-bot", {}, deleted_at=gone)
    agents_sync_from_mirror(studio=staff.studio)
    assert resolve_actor(text) is None


def test_a_local_agent_keeps_its_id_against_a_cloud_document_of_the_same_id(staff):
    make_agent(staff.studio, "shared-id", source="local", name="Ours")
    mirror(staff.studio, "agentClients", "shared-id", {"name": "Theirs", "owner": "x"})
    assert agents_sync_from_mirror(studio=staff.studio)["agents_skipped"] == 1
    assert AgentClient.objects.get().name == "Ours"


def test_the_sync_command_names_what_it_did(staff):
    mirror(staff.studio, "agentClients", "ops-bot", {"name": "Ops Bot", "owner": "owner-ada"})
    out = StringIO()
    call_command("agents", "sync", "--studio", "north-kiln", stdout=out)
    assert "agents created 1" in out.getvalue()
    out = StringIO()
    call_command("agents", "list", "--studio", "north-kiln", stdout=out)
    assert "agent ops-bot (cloud, active) owner owner-ada" in out.getvalue()


# Delegation decisions ---------------------------------------------------------------------


def resolved(staff, agent_id="ops-bot", owner="owner-ada"):
    agent = AgentClient.objects.filter(
        studio=staff.studio, agent_id=agent_id
    ).first() or make_agent(staff.studio, agent_id, owner)
    return resolve_actor(issue(staff.admin, agent))


def test_every_decision_is_stored_with_its_trace_and_audited(staff):
    make_delegation(staff.studio)
    actor = resolved(staff)
    allowed = delegation_decision(actor=actor, capability_id=NOTE, resource_owner_id="owner-ada")
    denied = delegation_decision(actor=actor, capability_id=NOTE, resource_owner_id="owner-ben")
    assert allowed.allowed and not denied.allowed
    assert denied.code == "DELEGATION_OWNER_MISMATCH"
    rows = {row.pk: row for row in PolicyDecision.objects.all()}
    assert set(rows) == {allowed.detail["decision_id"], denied.detail["decision_id"]}
    stored = rows[denied.detail["decision_id"]]
    assert (stored.code, stored.allowed, stored.resource_owner_id) == (
        "DELEGATION_OWNER_MISMATCH",
        False,
        "owner-ben",
    )
    assert [(t.check_name, t.passed) for t in stored.trace.all()] == [
        ("actor_is_agent", True),
        ("delegation_exists", True),
        ("owner_matches_resource", False),
    ]
    assert [(a, code) for _, a, code in chain(staff.studio.pk)][-2:] == [
        ("delegation.allowed", "ALLOWED"),
        ("delegation.denied", "DELEGATION_OWNER_MISMATCH"),
    ]


def test_a_delegation_that_expires_between_two_decisions_is_denied_the_second_time(staff):
    make_delegation(
        staff.studio, issued_at=T0 - dt.timedelta(days=1), expires_at=T0 + dt.timedelta(hours=1)
    )
    with time_machine.travel(T0, tick=False):
        actor = resolved(staff)
        assert delegation_decision(
            actor=actor, capability_id=NOTE, resource_owner_id="owner-ada"
        ).allowed
    later = delegation_decision(
        actor=actor,
        capability_id=NOTE,
        resource_owner_id="owner-ada",
        at=T0 + dt.timedelta(hours=2),
    )
    assert later.code == "DELEGATION_EXPIRED"


def test_a_local_revocation_denies_from_the_next_decision_on(staff):
    delegation = make_delegation(staff.studio)
    actor = resolved(staff)
    assert delegation_decision(
        actor=actor, capability_id=NOTE, resource_owner_id="owner-ada"
    ).allowed
    delegation_revoke_local(
        studio=staff.studio,
        delegation_id=delegation.pk,
        actor=Actor.staff(staff.admin),
        reason="Token leaked in a chat log",
    )
    after = delegation_decision(actor=actor, capability_id=NOTE, resource_owner_id="owner-ada")
    assert after.code == "DELEGATION_REVOKED"
    assert (
        "revoked here by staff"
        in PolicyDecision.objects.get(pk=after.detail["decision_id"]).trace.last().explanation
    )


def test_presenting_another_agents_delegation_is_an_actor_mismatch(staff):
    theirs = make_delegation(staff.studio, agent_id="other-bot")
    make_delegation(staff.studio)
    actor = resolved(staff)
    decision = delegation_decision(
        actor=actor, capability_id=NOTE, resource_owner_id="owner-ada", delegation_id=theirs.pk
    )
    assert decision.code == "DELEGATION_ACTOR_MISMATCH"


def test_another_studios_delegation_never_counts(staff):
    make_delegation(staff.other_studio)
    actor = resolved(staff)
    assert (
        delegation_decision(actor=actor, capability_id=NOTE, resource_owner_id="owner-ada").code
        == "DELEGATION_MISSING"
    )


def test_a_decision_costs_one_query_without_recording(staff, django_assert_num_queries):
    for _ in range(3):
        make_delegation(staff.studio)
    actor = resolved(staff)
    with django_assert_num_queries(1):
        delegation_pending(actor=actor, capability_id=NOTE, resource_owner_id="owner-ada")


def test_a_local_delegation_is_from_the_admin_who_gives_it(staff):
    agent = agent_create_local(
        studio=staff.studio, name="Kiln Bot", owner_id="ada", actor=Actor.staff(staff.admin)
    )
    delegation = delegation_create_local(
        studio=staff.studio,
        agent_pk=agent.pk,
        scopes=[f"capability:{NOTE}:execute"],
        expires_at=timezone.now() + dt.timedelta(days=3),
        actor=Actor.staff(staff.admin),
    )
    assert (delegation.owner_id, delegation.source, delegation.agent_id) == (
        "ada",
        "local",
        agent.agent_id,
    )
    with pytest.raises(Denied) as denied:
        delegation_create_local(
            studio=staff.studio,
            agent_pk=make_agent(staff.studio).pk,
            scopes=["capability:*:execute"],
            expires_at=timezone.now() + dt.timedelta(days=3),
            actor=Actor.staff(staff.admin),
        )
    assert denied.value.code == ReasonCode.INPUT_INVALID  # cloud agents get theirs in the cloud
    with pytest.raises(Denied):
        delegation_create_local(
            studio=staff.studio,
            agent_pk=agent.pk,
            scopes=["all"],
            expires_at=timezone.now() + dt.timedelta(days=3),
            actor=Actor.staff(staff.admin),
        )
