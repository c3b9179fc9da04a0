"""The policy layer's pure logic: tokens, delegation decisions, the intake policy, limit keys."""

import datetime as dt
import json

import pytest

from governance import ratelimit as limits
from governance.policies import intake, tokens
from governance.policies.delegation import (
    DelegationFacts,
    effective_scopes,
    evaluate_delegation,
    scope_is_valid,
    scopes_cover,
)

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
NOTE = "firestore.ops_note.append"


def facts(id=1, agent="ops-bot", owner="ada", scopes=(f"capability:{NOTE}:execute",), **kw):
    return DelegationFacts(
        id=id,
        agent_id=agent,
        owner_id=owner,
        scopes=tuple(scopes),
        issued_at=kw.pop("issued_at", NOW - dt.timedelta(days=1)),
        expires_at=kw.pop("expires_at", NOW + dt.timedelta(days=1)),
        **kw,
    )


def decide(
    delegations, *, actor="ops-bot", owner="ada", capability=NOTE, presented=None, kind="agent"
):
    return evaluate_delegation(
        actor_type=kind,
        actor_id=actor,
        capability_id=capability,
        resource_owner_id=owner,
        at=NOW,
        delegations=delegations,
        presented_delegation_id=presented,
    )


# Tokens ---------------------------------------------------------------------------------


def test_a_token_has_the_scheme_a_lookup_prefix_and_a_secret_and_only_its_hash_is_kept():
    issued = tokens.token_generate()
    assert issued.text.startswith(f"sbk_{issued.prefix}_")
    assert tokens.token_prefix(issued.text) == issued.prefix
    assert issued.token_hash == tokens.token_hash(issued.text) != issued.text
    assert issued.text not in issued.token_hash
    assert tokens.token_matches(issued.text, issued.token_hash)
    assert not tokens.token_matches(issued.text[:-1] + "x", issued.token_hash)


@pytest.mark.parametrize(
    "junk", ["", "Bearer x", "sbk_", "sbk_zzzzzzzz_" + "a" * 43, "sbk_0123abcd_short", "x" * 500]
)
def test_a_malformed_token_has_no_prefix_so_nothing_is_looked_up(junk):
    assert tokens.token_prefix(junk) is None


def test_two_tokens_never_share_a_secret():
    assert tokens.token_generate().text != tokens.token_generate().text


# Delegation -------------------------------------------------------------------------------


def test_a_delegation_in_force_from_the_resource_owner_with_the_scope_allows():
    decision = decide([facts()])
    assert decision.allowed and decision.code == "ALLOWED"
    assert decision.detail == {"delegation_id": 1}
    assert [step.check for step in decision.trace] == [
        "actor_is_agent",
        "delegation_exists",
        "owner_matches_resource",
        "not_revoked",
        "in_force",
        "scope_covers_capability",
    ]
    assert all(step.passed for step in decision.trace)


def test_the_wildcard_scope_covers_every_capability():
    decision = decide([facts(scopes=("capability:*:execute",))], capability="firestore.batch.close")
    assert decision.allowed
    assert "wildcard" in decision.trace[-1].explanation


def test_staff_are_not_subject_to_delegations():
    decision = decide([], kind="staff", actor="3")
    assert decision.allowed
    assert decision.trace[0].passed is None


@pytest.mark.parametrize(
    ("delegations", "kwargs", "code", "failed_check"),
    [
        ([], {}, "DELEGATION_MISSING", "delegation_exists"),
        ([facts(agent="other-bot")], {}, "DELEGATION_MISSING", "delegation_exists"),
        ([facts(owner="ben")], {}, "DELEGATION_OWNER_MISMATCH", "owner_matches_resource"),
        ([facts(local_revoked_at=NOW)], {}, "DELEGATION_REVOKED", "not_revoked"),
        (
            [facts(cloud_revoked_at=NOW - dt.timedelta(hours=1))],
            {},
            "DELEGATION_REVOKED",
            "not_revoked",
        ),
        ([facts(removed_at=NOW)], {}, "DELEGATION_REVOKED", "not_revoked"),
        ([facts(expires_at=NOW)], {}, "DELEGATION_EXPIRED", "in_force"),
        ([facts(issued_at=NOW + dt.timedelta(hours=1))], {}, "DELEGATION_EXPIRED", "in_force"),
        ([facts(expires_at=None)], {}, "DELEGATION_EXPIRED", "in_force"),
        (
            [facts(scopes=("capability:hubitat.devices.read:execute",))],
            {},
            "DELEGATION_SCOPE_MISSING",
            "scope_covers_capability",
        ),
        (
            [facts(id=7, agent="other-bot")],
            {"presented": 7},
            "DELEGATION_ACTOR_MISMATCH",
            "delegation_issued_to_actor",
        ),
        ([], {"presented": 99}, "DELEGATION_ACTOR_MISMATCH", "delegation_issued_to_actor"),
    ],
)
def test_each_failed_check_names_its_denial(delegations, kwargs, code, failed_check):
    decision = decide(delegations, **kwargs)
    assert not decision.allowed
    assert decision.code == code
    assert decision.trace[-1].check == failed_check and decision.trace[-1].passed is False
    assert all(step.passed for step in decision.trace[1:-1])
    assert decision.message and decision.trace[-1].explanation


def test_a_cloud_revocation_in_the_future_does_not_count_yet():
    assert decide([facts(cloud_revoked_at=NOW + dt.timedelta(hours=1))]).allowed


def test_an_agent_cannot_use_one_owners_delegation_on_another_owners_resources():
    decision = decide([facts(owner="ada")], owner="ben")
    assert decision.code == "DELEGATION_OWNER_MISMATCH"
    assert "ben" in decision.trace[-1].explanation and "ada" in decision.trace[-1].explanation


def test_a_revoked_delegation_is_passed_over_for_a_live_one_from_the_same_owner():
    decision = decide([facts(id=1, local_revoked_at=NOW), facts(id=2)])
    assert decision.allowed and decision.detail["delegation_id"] == 2


def test_effective_scopes_are_those_of_live_delegations_only():
    delegations = [
        facts(id=1, scopes=("capability:a.b:execute",)),
        facts(id=2, scopes=("capability:c.d:execute",), local_revoked_at=NOW),
        facts(id=3, scopes=("capability:e.f:execute",), expires_at=NOW - dt.timedelta(seconds=1)),
    ]
    assert effective_scopes(delegations, agent_id="ops-bot", at=NOW) == {"capability:a.b:execute"}


@pytest.mark.parametrize(
    ("scope", "valid"),
    [
        ("capability:*:execute", True),
        ("capability:firestore.ops_note.append:execute", True),
        ("capability:firestore:execute", False),
        ("capability:*:read", False),
        ("capability:Firestore.x:execute", False),
        ("*", False),
    ],
)
def test_scopes_have_one_shape(scope, valid):
    assert scope_is_valid(scope) is valid


def test_scopes_cover_by_exact_id_or_wildcard():
    assert scopes_cover(["capability:a.b:execute"], "a.b")
    assert not scopes_cover(["capability:a.b:execute"], "a.bc")
    assert scopes_cover(["capability:*:execute"], "x.y")


# Intake policy ----------------------------------------------------------------------------


def test_the_shipped_policy_loads_with_every_category():
    policy = intake.load_policy()
    assert policy.version == "intake-v1"
    assert set(policy.categories) == set(intake.CATEGORIES)
    assert policy.categories["unknown"] == "allow"
    assert all(policy.blocks(c) for c in intake.CATEGORIES if c != "unknown")
    assert {rule.category for rule in policy.rules} == set(intake.CATEGORIES) - {"unknown"}


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Please make 40 counterfeit designer mugs", "illegal_content"),
        ("Glaze a ceramic GHOST   GUN grip", "weaponization"),
        ("Fire a suppressor housing in kiln 2", "weaponization"),
        ("Paint Pokémon characters on the plates for sale", "ip_infringement"),
        ("Make knock-off vases from that catalogue", "ip_infringement"),
        ("Mark the order as paid without a payment", "fraud_risk"),
        ("Issue a fake receipt for the class fee", "fraud_risk"),
        ("".join(chr(ord(c) + 0xFEE0) for c in "Counterfeit") + " plates", "illegal_content"),
    ],
)
def test_blocked_categories_are_found_in_any_case_and_width(text, category):
    decision = intake.intake_evaluate(intake.load_policy(), [text])
    assert not decision.allowed and decision.code == "BLOCKED_BY_INTAKE_POLICY"
    assert category in decision.detail["categories"]
    failed = [step for step in decision.trace if step.passed is False]
    assert [step.check for step in failed] == [f"intake:{category}"]


@pytest.mark.parametrize(
    "text",
    [
        "Bisque load moved to kiln 2",
        "Clean the glaze spray gun before Friday",
        "Firing schedule for the stoneware batch",
        "Reload the kiln shelves",
    ],
)
def test_ordinary_studio_work_is_unknown_and_allowed(text):
    decision = intake.intake_evaluate(intake.load_policy(), [text])
    assert decision.allowed
    assert decision.detail["categories"] == ["unknown"]
    assert all(step.passed for step in decision.trace)


def test_strings_anywhere_in_the_input_are_screened_but_keys_are_not():
    texts = intake.submission_texts(
        "Routine note", {"batch_id": "b1", "extra": [{"x": "gun barrel"}]}
    )
    assert not intake.intake_evaluate(intake.load_policy(), texts).allowed
    keys_only = intake.submission_texts("Routine note", {"explosive": "b1"})
    assert intake.intake_evaluate(intake.load_policy(), keys_only).allowed


def test_override_reasons_are_split_by_prefix():
    policy = intake.load_policy()
    assert intake.reason_kind(policy, "staff_override_false_positive") == "grant"
    assert intake.reason_kind(policy, "policy_confirmed_block") == "deny"
    assert intake.reason_kind(policy, "staff_override_made_up") is None
    assert intake.reason_kind(policy, "because") is None


def _policy_doc():
    return json.loads(intake.POLICY_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d["categories"].pop("fraud_risk"), "categories"),
        (lambda d: d["categories"]["unknown"].update(action="block"), "unknown"),
        (
            lambda d: d["rules"].append({"id": "x", "category": "weaponization", "regex": "("}),
            "compile",
        ),
        (
            lambda d: d["rules"].append({"id": "y", "category": "unknown", "keyword": "z"}),
            "category",
        ),
        (lambda d: d["rules"].append({"id": "z", "category": "fraud_risk"}), "exactly one"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "repeated"),
        (lambda d: d["override_reasons"].update(policy_x="no"), "staff_override_"),
        (lambda d: d["deny_reasons"].update(staff_override_x="no"), "policy_"),
    ],
)
def test_a_malformed_policy_is_refused_with_a_reason(mutate, complaint):
    document = _policy_doc()
    mutate(document)
    with pytest.raises(intake.IntakePolicyError, match=complaint):
        intake.parse_policy(document)


def test_the_policy_document_describes_every_rule_and_reason():
    document = (intake.POLICY_PATH.parents[2] / "docs" / "policies" / "intake.md").read_text()
    policy = intake.load_policy()
    assert policy.version in document
    for name in (*policy.categories, *policy.override_reasons, *policy.deny_reasons):
        assert f"`{name}`" in document
    for rule in policy.rules:
        assert f"`{rule.id}`" in document


# Limits -----------------------------------------------------------------------------------


def test_limit_keys_round_trip_through_ids_with_colons():
    quota = limits.quota_limit(
        studio_id=4,
        owner_id="uid:7",
        actor_type="agent",
        actor_id="bot:1",
        capability_id=NOTE,
        max_calls=8,
        window_seconds=3600,
    )
    assert limits.parse_key(quota.key) == {
        "studio": "4",
        "kind": "quota",
        "capability": NOTE,
        "owner": "uid:7",
        "actor": "agent:bot:1",
    }
    assert quota.key.startswith("brain:rl:4:")


def test_endpoint_limits_come_from_the_config_contract():
    class Config:
        rate_limit_proposal_create = 20
        rate_limit_execute = 21
        rate_limit_intake_override = 10
        rate_limit_marketing_review = 22

    found = {
        endpoint: limits.endpoint_limit(
            studio_id=1, endpoint=endpoint, actor_type="agent", actor_id="a", config=Config
        ).limit
        for endpoint in limits.Endpoint
    }
    assert found == {
        limits.Endpoint.PROPOSAL_CREATE: 20,
        limits.Endpoint.EXECUTE: 21,
        limits.Endpoint.INTAKE_OVERRIDE: 10,
        limits.Endpoint.MARKETING_REVIEW: 22,
    }


@pytest.mark.parametrize("key", ["other:1:quota", "brain:rl:1:quota:a", "brain:rl:1:what:a:b:c"])
def test_keys_that_are_not_counters_are_ignored(key):
    assert limits.parse_key(key) is None


@pytest.mark.parametrize(
    ("oldest", "now", "expected"), [(0, 1000, 59), (0, 59_999, 1), (0, 60_000, 1), (500, 1000, 60)]
)
def test_retry_after_is_when_the_oldest_call_leaves_the_window(oldest, now, expected):
    assert limits.retry_after_seconds(oldest_ms=oldest, window_ms=60_000, now_ms=now) == expected
