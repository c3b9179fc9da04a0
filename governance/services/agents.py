"""Agent identities and their API tokens; resolving a token into an actor.

Agents come from the cloud's ``agentClients`` collection (mirrored by
``agents_sync_from_mirror``) or are created here by a studio admin. A token is shown once
when issued; only its sha256 is kept (``governance.policies.tokens``). Rotation issues a
new token and revokes the old one in the same transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from brain.models import CloudRecord, Membership, Role, Studio
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType
from governance.errors import Denied
from governance.identity import ResolvedActor
from governance.models import AgentClient, AgentSource, AgentToken, Delegation
from governance.policies.delegation import effective_scopes, scope_is_valid
from governance.policies.tokens import token_generate, token_matches, token_prefix
from governance.reasons import ReasonCode
from governance.selectors.policy import delegation_facts
from governance.services.common import Target, governed, require_rationale, require_role

log = structlog.stdlib.get_logger("governance.agents")

AGENT_COLLECTION = "agentClients"
DELEGATION_COLLECTION = "delegations"
LOCAL_PREFIX = "local-"
# last_used_at is written at most this often per token, so an API call is not also a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
NAME_MAX = 200
OWNER_MAX = 128


def _audit_agent(agent: AgentClient, actor: Actor, action: str, **metadata: Any) -> None:
    audit_append(
        studio=agent.studio_id,
        actor=actor,
        action=action,
        target_type="agent",
        target_id=agent.agent_id,
        reason_code=ReasonCode.ALLOWED,
        metadata={"agent": agent.agent_id, "source": agent.source, **metadata},
    )


def agent_create_local(*, studio: Studio, name: str, owner_id: str, actor: Actor) -> AgentClient:
    """A studio admin registers an agent that is not in the cloud's ``agentClients``."""

    def body() -> AgentClient:
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        cleaned_name, owner = (name or "").strip(), (owner_id or "").strip()
        problems: dict[str, list[str]] = {}
        if not cleaned_name or len(cleaned_name) > NAME_MAX or not slugify(cleaned_name):
            problems["name"] = [f"A name of 1 to {NAME_MAX} characters with letters or digits."]
        if not owner or len(owner) > OWNER_MAX:
            problems["owner_id"] = [f"The staff owner's id, 1 to {OWNER_MAX} characters."]
        elif not Membership.objects.filter(
            studio=studio, user__username=owner, user__is_active=True
        ).exists():
            # The owner is who the agent acts for (local delegations come from a member's
            # username): someone outside the studio would make every delegation meaningless.
            problems["owner_id"] = [
                f"{owner!r} is not a member of {studio.name}; choose one of its staff."
            ]
        if problems:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                "The agent needs a name and an owner who is a member of the studio.",
                studio_id=studio.pk,
                field_errors=problems,
            )
        now = timezone.now()
        agent = AgentClient.objects.create(
            studio=studio,
            agent_id=f"{LOCAL_PREFIX}{slugify(cleaned_name)[:100]}-{secrets.token_hex(2)}",
            source=AgentSource.LOCAL,
            name=cleaned_name,
            owner_id=owner,
            created_at=now,
            updated_at=now,
        )
        _audit_agent(agent, actor, "agent.created", name=agent.name, owner=agent.owner_id)
        return agent

    return governed("agent.create_denied", actor, body, target=Target("agent"))


def _lock_agent(studio: Studio, agent_pk: int) -> AgentClient:
    agent = AgentClient.objects.select_for_update().filter(studio=studio, pk=agent_pk).first()
    if agent is None:
        raise Denied(
            ReasonCode.TENANT_MISMATCH,
            "There is no such agent in this studio.",
            studio_id=studio.pk,
        )
    return agent


def _new_token(
    agent: AgentClient,
    actor: Actor,
    now: datetime,
    ttl: timedelta | None,
    rotated_from: AgentToken | None,
) -> tuple[AgentToken, str]:
    lifetime = ttl or settings.BRAIN.agent_token_ttl
    if lifetime <= timedelta(0) or lifetime > settings.BRAIN.agent_token_ttl:
        raise Denied(
            ReasonCode.INPUT_INVALID,
            "A token lives at most BRAIN_AGENT_TOKEN_TTL "
            f"({settings.BRAIN.agent_token_ttl.days} days).",
            studio_id=agent.studio_id,
            field_errors={"expires_in_days": ["Too long or not positive."]},
        )
    issued = token_generate()
    token = AgentToken.objects.create(
        agent=agent,
        prefix=issued.prefix,
        token_hash=issued.token_hash,
        created_by=actor.user,
        created_at=now,
        expires_at=now + lifetime,
        rotated_from=rotated_from,
    )
    return token, issued.text


def token_issue(
    *, studio: Studio, agent_pk: int, actor: Actor, ttl: timedelta | None = None
) -> tuple[AgentToken, str]:
    """Issue an API token for an active agent. Returns the row and the clear token, which
    the caller shows once and then forgets."""

    def body() -> tuple[AgentToken, str]:
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        agent = _lock_agent(studio, agent_pk)
        if not agent.is_active:
            raise Denied(
                ReasonCode.ACTOR_NOT_ALLOWED,
                f"Agent {agent.agent_id} is disabled or gone from the cloud: no new tokens.",
                studio_id=studio.pk,
                detail={"target_id": agent.agent_id},
            )
        now = timezone.now()
        token, text = _new_token(agent, actor, now, ttl, None)
        _audit_agent(
            agent,
            actor,
            "agent.token_issued",
            token_prefix=token.prefix,
            expires_at=token.expires_at,
        )
        return token, text

    return governed("agent.token_issue_denied", actor, body, target=Target("agent"))


def _lock_token(studio: Studio, token_pk: int) -> AgentToken:
    token = (
        AgentToken.objects.select_for_update()
        .select_related("agent")
        .filter(pk=token_pk, agent__studio=studio)
        .first()
    )
    if token is None:
        raise Denied(
            ReasonCode.TENANT_MISMATCH,
            "There is no such token in this studio.",
            studio_id=studio.pk,
        )
    return token


def token_rotate(*, studio: Studio, token_pk: int, actor: Actor) -> tuple[AgentToken, str]:
    """Replace a live token: the new one is issued and the old one revoked, together."""

    def body() -> tuple[AgentToken, str]:
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        old = _lock_token(studio, token_pk)
        now = timezone.now()
        if old.revoked_at is not None or old.expires_at <= now:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"Token sbk_{old.prefix}_… is revoked or expired: issue a new one instead.",
                studio_id=studio.pk,
                detail={"target_id": old.agent.agent_id},
            )
        if not old.agent.is_active:
            raise Denied(
                ReasonCode.ACTOR_NOT_ALLOWED,
                f"Agent {old.agent.agent_id} is disabled or gone from the cloud: no new tokens.",
                studio_id=studio.pk,
                detail={"target_id": old.agent.agent_id},
            )
        old.revoked_at = now
        old.revoked_reason = "rotated"
        old.save(update_fields=["revoked_at", "revoked_reason"])
        new, text = _new_token(old.agent, actor, now, None, old)
        _audit_agent(
            old.agent,
            actor,
            "agent.token_rotated",
            token_prefix=new.prefix,
            revoked_prefix=old.prefix,
            expires_at=new.expires_at,
        )
        return new, text

    return governed("agent.token_rotate_denied", actor, body, target=Target("agent"))


def token_revoke(*, studio: Studio, token_pk: int, actor: Actor, reason: str) -> AgentToken:
    """Revoke a token now, with a reason. Calls with it fail from the next request on."""

    def body() -> AgentToken:
        cleaned = require_rationale(reason, studio_id=studio.pk)
        require_role(actor, studio_id=studio.pk, minimum=Role.ADMIN)
        token = _lock_token(studio, token_pk)
        if token.revoked_at is not None:
            raise Denied(
                ReasonCode.ILLEGAL_TRANSITION,
                f"Token sbk_{token.prefix}_… is revoked already.",
                studio_id=studio.pk,
                detail={"target_id": token.agent.agent_id},
            )
        token.revoked_at = timezone.now()
        token.revoked_reason = cleaned
        token.save(update_fields=["revoked_at", "revoked_reason"])
        _audit_agent(
            token.agent, actor, "agent.token_revoked", token_prefix=token.prefix, reason=cleaned
        )
        return token

    return governed("agent.token_revoke_denied", actor, body, target=Target("agent"))


def resolve_actor(token: str, *, at: datetime | None = None) -> ResolvedActor | None:
    """The agent a bearer token belongs to, or None when the token is malformed, unknown,
    expired or revoked, or its agent is disabled or gone from the cloud.

    Costs two queries (the token with its agent and studio; the agent's delegations), plus
    an UPDATE of ``last_used_at`` at most once a minute per token.
    """
    prefix = token_prefix(token)
    if prefix is None:
        return None
    row = AgentToken.objects.select_related("agent__studio").filter(prefix=prefix).first()
    if row is None or not token_matches(token, row.token_hash):
        log.info("agent.token_rejected", token_prefix=prefix, why="unknown")
        return None
    at = at or timezone.now()
    if row.revoked_at is not None or row.expires_at <= at or not row.agent.is_active:
        log.info("agent.token_rejected", token_prefix=prefix, why="revoked, expired or disabled")
        return None
    served = settings.BRAIN.allowed_studios
    if served and row.agent.studio.slug not in served:
        log.info("agent.token_rejected", token_prefix=prefix, why="studio not served here")
        return None
    if row.last_used_at is None or at - row.last_used_at >= LAST_USED_RESOLUTION:
        AgentToken.objects.filter(pk=row.pk).update(last_used_at=at)
    agent = row.agent
    facts = delegation_facts(agent.studio_id, agent.agent_id)
    return ResolvedActor(
        actor_type=ActorType.AGENT,
        actor_id=agent.agent_id,
        owner=agent.owner_id,
        studio=agent.studio,
        effective_scopes=effective_scopes(facts, agent_id=agent.agent_id, at=at),
        token_prefix=prefix,
    )


def agent_named(*, studio_id: int, agent_id: str) -> ResolvedActor:
    """An agent named without its token (a job, the CLI, the execution worker): its row in
    the studio gives the owner it acts for. A missing or disabled agent has no owner, and
    therefore no delegation that can match. One query."""
    agent = (
        AgentClient.objects.filter(studio_id=studio_id, agent_id=agent_id)
        .select_related("studio")
        .first()
    )
    owner = agent.owner_id if agent is not None and not agent.disabled else ""
    studio = agent.studio if agent is not None else Studio(pk=studio_id)
    return ResolvedActor(actor_type=ActorType.AGENT, actor_id=agent_id, owner=owner, studio=studio)


# Mirror → agents and delegations ------------------------------------------------------------


def _first(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return value
    return None


def _time(value: Any) -> datetime | None:
    """A mirrored time (canonical text) as an aware datetime; anything else is None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _agent_fields(doc_id: str, data: dict[str, Any]) -> dict[str, Any]:
    status = str(_first(data, "status", "state") or "active").strip().lower()
    return {
        "name": str(_first(data, "name", "displayName", "label") or doc_id)[:NAME_MAX],
        "owner_id": str(_first(data, "owner", "ownerUid", "ownerId", "uid") or "")[:OWNER_MAX],
        "disabled": status not in ("active", "enabled") or data.get("disabled") is True,
        "cloud_data": data,
    }


def _delegation_fields(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    raw_scopes = data.get("scopes")
    scopes = [s for s in raw_scopes if isinstance(s, str)] if isinstance(raw_scopes, list) else []
    valid = [s for s in scopes if scope_is_valid(s)]
    return (
        {
            "agent_id": str(_first(data, "agent", "agentId", "agentClientId") or "")[:128],
            "owner_id": str(_first(data, "owner", "ownerUid", "ownerId") or "")[:OWNER_MAX],
            "scopes": valid,
            "issued_at": _time(_first(data, "issued_at", "issuedAt")),
            "expires_at": _time(_first(data, "expires_at", "expiresAt")),
            "cloud_revoked_at": _time(_first(data, "revoked_at", "revokedAt")),
        },
        [s for s in scopes if s not in valid],
    )


def agents_sync_from_mirror(
    *, studio: Studio, actor: Actor | None = None, at: datetime | None = None
) -> dict[str, int]:
    """Refresh cloud agents and delegations from the studio's mirrored cloud records.

    The cloud is authoritative for what it holds: mirrored rows are created, updated, and
    marked removed when the mirror marks their document deleted (only a complete read does
    that). Local agents and local revocations are never touched. Runs after each capture
    (a receiver of brain's ``studio_state_captured`` signal calls it after each
    committed capture) and from ``manage.py agents sync``. Audited when anything
    changed. Returns counts.
    """
    actor = actor or Actor.system("agents-sync")
    at = at or timezone.now()
    counts = dict.fromkeys(
        (
            "agents_created",
            "agents_updated",
            "agents_removed",
            "agents_skipped",
            "delegations_created",
            "delegations_updated",
            "delegations_removed",
            "delegations_skipped",
            "scopes_dropped",
        ),
        0,
    )
    records = CloudRecord.objects.filter(
        studio=studio,
        source=CloudRecord.Source.FIRESTORE,
        collection__in=(AGENT_COLLECTION, DELEGATION_COLLECTION),
    ).values_list("collection", "doc_id", "data", "deleted_at")
    with transaction.atomic():
        agents = {
            row.agent_id: row
            for row in AgentClient.objects.select_for_update().filter(studio=studio)
        }
        delegations = {
            row.cloud_doc_id: row
            for row in Delegation.objects.select_for_update().filter(
                studio=studio, source=AgentSource.CLOUD
            )
        }
        for collection, doc_id, data, deleted_at in records:
            if collection == AGENT_COLLECTION:
                _sync_agent(studio, agents, doc_id, data, deleted_at, at, counts)
            else:
                _sync_delegation(studio, delegations, doc_id, data, deleted_at, at, counts)
        changed = {k: v for k, v in counts.items() if v}
        if any(k.endswith(("_created", "_updated", "_removed")) for k in changed):
            audit_append(
                studio=studio,
                actor=actor,
                action="agents.synced",
                target_type="studio",
                target_id=studio.pk,
                reason_code=ReasonCode.ALLOWED,
                metadata=changed,
            )
    return counts


def _sync_agent(
    studio: Studio,
    agents: dict[str, AgentClient],
    doc_id: str,
    data: dict[str, Any],
    deleted_at: datetime | None,
    at: datetime,
    counts: dict[str, int],
) -> None:
    existing = agents.get(doc_id)
    if existing is not None and existing.source != AgentSource.CLOUD:
        counts["agents_skipped"] += 1  # a local agent holds this id; the cloud one is ignored
        return
    if deleted_at is not None:
        if existing is not None and existing.removed_at is None:
            existing.removed_at = deleted_at
            existing.updated_at = at
            existing.save(update_fields=["removed_at", "updated_at"])
            counts["agents_removed"] += 1
        return
    fields = _agent_fields(doc_id, data if isinstance(data, dict) else {})
    if existing is None:
        agents[doc_id] = AgentClient.objects.create(
            studio=studio,
            agent_id=doc_id,
            source=AgentSource.CLOUD,
            created_at=at,
            updated_at=at,
            synced_at=at,
            **fields,
        )
        counts["agents_created"] += 1
        return
    changed = [name for name, value in fields.items() if getattr(existing, name) != value]
    if existing.removed_at is not None:
        existing.removed_at = None
        changed.append("removed_at")
    for name in changed:
        if name != "removed_at":
            setattr(existing, name, fields[name])
    existing.synced_at = at
    if changed:
        existing.updated_at = at
        counts["agents_updated"] += 1
    existing.save(update_fields=[*changed, "synced_at", "updated_at"])


def _sync_delegation(
    studio: Studio,
    delegations: dict[str, Delegation],
    doc_id: str,
    data: dict[str, Any],
    deleted_at: datetime | None,
    at: datetime,
    counts: dict[str, int],
) -> None:
    existing = delegations.get(doc_id)
    if deleted_at is not None:
        if existing is not None and existing.removed_at is None:
            existing.removed_at = deleted_at
            existing.synced_at = at
            existing.save(update_fields=["removed_at", "synced_at"])
            counts["delegations_removed"] += 1
        return
    fields, dropped = _delegation_fields(data if isinstance(data, dict) else {})
    counts["scopes_dropped"] += len(dropped)
    if not fields["agent_id"] or not fields["owner_id"]:
        counts["delegations_skipped"] += 1  # names no agent or no owner: it grants nothing
        return
    if existing is None:
        delegations[doc_id] = Delegation.objects.create(
            studio=studio,
            source=AgentSource.CLOUD,
            cloud_doc_id=doc_id,
            created_at=at,
            synced_at=at,
            **fields,
        )
        counts["delegations_created"] += 1
        return
    changed = [name for name, value in fields.items() if getattr(existing, name) != value]
    for name in changed:
        setattr(existing, name, fields[name])
    if existing.removed_at is not None:
        existing.removed_at = None
        changed.append("removed_at")
    existing.synced_at = at
    if changed:
        counts["delegations_updated"] += 1
    existing.save(update_fields=[*changed, "synced_at"])
