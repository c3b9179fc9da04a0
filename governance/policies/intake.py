"""Intake controls for agent submissions: a versioned rules policy kept as a data file.

The policy (``intake_v1.json``, documented in ``docs/policies/intake.md``) names five
categories. Four block (illegal_content, weaponization, ip_infringement, fraud_risk): a
submission matching any of their rules is held for staff review. ``unknown`` — nothing
matched — lets it through. Rules are keywords (whole words, any case) or regular
expressions (any case), matched against the text of the submission: its rationale and
every string in its input.

Loading validates the file (known categories, compilable patterns, reason-code prefixes),
so a broken policy fails at startup, never on a request.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from governance.policies.decision import ALLOWED, Decision, TraceStep

CATEGORIES = ("illegal_content", "weaponization", "ip_infringement", "fraud_risk", "unknown")
ALLOW_CATEGORY = "unknown"
GRANT_PREFIX = "staff_override_"
DENY_PREFIX = "policy_"
POLICY_PATH = Path(__file__).with_name("intake_v1.json")
EXCERPT_CHARS = 40


class IntakePolicyError(ValueError):
    """The policy file is malformed: it names what and where."""


@dataclass(frozen=True)
class IntakeRule:
    id: str
    category: str
    pattern: re.Pattern[str]
    source: str  # the keyword or regex as written in the file


@dataclass(frozen=True)
class IntakePolicy:
    version: str
    categories: Mapping[str, str]  # category -> action (block | allow)
    descriptions: Mapping[str, str]
    rules: tuple[IntakeRule, ...]
    override_reasons: Mapping[str, str]
    deny_reasons: Mapping[str, str]

    def blocks(self, category: str) -> bool:
        return self.categories.get(category) == "block"


@dataclass(frozen=True)
class IntakeMatch:
    rule: str
    category: str
    excerpt: str


def _normalise(text: str) -> str:
    """Fold case and compatibility forms and collapse whitespace, so full-width or
    tab-separated words match like plain ones."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _compile(rule: Mapping[str, Any], where: str) -> tuple[re.Pattern[str], str]:
    if ("keyword" in rule) == ("regex" in rule):
        raise IntakePolicyError(f"{where}: give exactly one of 'keyword' or 'regex'")
    try:
        if "keyword" in rule:
            keyword = _normalise(str(rule["keyword"]))
            if not keyword:
                raise IntakePolicyError(f"{where}: empty keyword")
            words = r"\s+".join(re.escape(word) for word in keyword.split())
            return re.compile(rf"\b{words}\b"), str(rule["keyword"])
        return re.compile(str(rule["regex"]), re.IGNORECASE), str(rule["regex"])
    except re.error as error:
        raise IntakePolicyError(f"{where}: pattern does not compile: {error}") from None


def parse_policy(document: Mapping[str, Any]) -> IntakePolicy:
    """Validate a policy document (the JSON file's content) into an ``IntakePolicy``."""
    version = document.get("version")
    if not isinstance(version, str) or not version:
        raise IntakePolicyError("the policy needs a 'version' string")
    raw_categories = document.get("categories") or {}
    if set(raw_categories) != set(CATEGORIES):
        raise IntakePolicyError(f"categories must be exactly {', '.join(CATEGORIES)}")
    actions = {name: spec.get("action") for name, spec in raw_categories.items()}
    if any(action not in ("block", "allow") for action in actions.values()):
        raise IntakePolicyError("each category's action must be 'block' or 'allow'")
    if actions[ALLOW_CATEGORY] != "allow":
        raise IntakePolicyError("'unknown' must allow: it is what no rule matched")
    rules = []
    seen: set[str] = set()
    for index, raw in enumerate(document.get("rules") or []):
        where = f"rule {index} ({raw.get('id', '?')})"
        rule_id, category = raw.get("id"), raw.get("category")
        if not rule_id or rule_id in seen:
            raise IntakePolicyError(f"{where}: missing or repeated id")
        if category not in CATEGORIES or category == ALLOW_CATEGORY:
            raise IntakePolicyError(f"{where}: category must be one of the blocking categories")
        pattern, source = _compile(raw, where)
        seen.add(rule_id)
        rules.append(IntakeRule(rule_id, category, pattern, source))
    overrides = dict(document.get("override_reasons") or {})
    denies = dict(document.get("deny_reasons") or {})
    if not overrides or any(not code.startswith(GRANT_PREFIX) for code in overrides):
        raise IntakePolicyError(f"override_reasons must be non-empty and start {GRANT_PREFIX}")
    if not denies or any(not code.startswith(DENY_PREFIX) for code in denies):
        raise IntakePolicyError(f"deny_reasons must be non-empty and start {DENY_PREFIX}")
    return IntakePolicy(
        version=version,
        categories=actions,
        descriptions={
            name: str(spec.get("description", "")) for name, spec in raw_categories.items()
        },
        rules=tuple(rules),
        override_reasons=overrides,
        deny_reasons=denies,
    )


@cache
def load_policy(path: Path = POLICY_PATH) -> IntakePolicy:
    """The policy in force (read and validated once per process)."""
    with path.open(encoding="utf-8") as handle:
        return parse_policy(json.load(handle))


def submission_texts(rationale: str, input: Any) -> list[str]:
    """The words an agent sent: its rationale and every string in its input, keys excepted."""
    return [rationale, *_strings(input)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def find_matches(policy: IntakePolicy, texts: Iterable[str]) -> list[IntakeMatch]:
    matches = []
    normalised = [_normalise(text) for text in texts if text]
    for rule in policy.rules:
        for text in normalised:
            found = rule.pattern.search(text)
            if found:
                start = max(0, found.start() - EXCERPT_CHARS)
                excerpt = text[start : found.end() + EXCERPT_CHARS]
                matches.append(IntakeMatch(rule.id, rule.category, excerpt))
                break
    return matches


def intake_evaluate(policy: IntakePolicy, texts: Iterable[str]) -> Decision:
    """Block when a blocking category's rule matches; ``unknown`` (no match) is allowed."""
    matches = find_matches(policy, texts)
    blocking = sorted({m.category for m in matches if policy.blocks(m.category)})
    trace = []
    for category in CATEGORIES:
        if category == ALLOW_CATEGORY:
            continue
        hits = [m for m in matches if m.category == category]
        trace.append(
            TraceStep(
                f"intake:{category}",
                {
                    "policy": policy.version,
                    "rules": [m.rule for m in hits],
                    "excerpts": [m.excerpt for m in hits],
                },
                not hits,
                f"No {category.replace('_', ' ')} rule matched."
                if not hits
                else f"{category.replace('_', ' ').capitalize()} rule(s) "
                f"{', '.join(m.rule for m in hits)} matched “{hits[0].excerpt}”.",
            )
        )
    detail = {
        "policy_version": policy.version,
        "categories": blocking or [ALLOW_CATEGORY],
        "matches": [
            {"rule": m.rule, "category": m.category, "excerpt": m.excerpt} for m in matches
        ],
    }
    if blocking:
        return Decision(
            allowed=False,
            code="BLOCKED_BY_INTAKE_POLICY",
            message=(
                f"The submission falls in {', '.join(c.replace('_', ' ') for c in blocking)} "
                "under the intake policy and waits for staff review."
            ),
            trace=tuple(trace),
            detail=detail,
        )
    return Decision(
        allowed=True,
        code=ALLOWED,
        message="No intake rule matched (category unknown): the submission goes on.",
        trace=tuple(trace),
        detail=detail,
    )


def reason_kind(policy: IntakePolicy, reason_code: str) -> str | None:
    """'grant' for a known staff_override_* code, 'deny' for a known policy_* code, else None."""
    if reason_code in policy.override_reasons:
        return "grant"
    if reason_code in policy.deny_reasons:
        return "deny"
    return None
