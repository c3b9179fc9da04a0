"""Builders and fixtures for the policy tests: agents, tokens, delegations, a clean Redis."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from brain.models import CloudRecord, Studio
from governance.actors import Actor
from governance.models import AgentClient, AgentSource, Delegation
from governance.ratelimit import KEY_PREFIX
from governance.services.agents import token_issue
from tests.factories import AgentClientFactory, DelegationFactory

DOWN_REDIS = "redis://127.0.0.1:1/0"


def make_agent(
    studio: Studio,
    agent_id: str = "ops-bot",
    owner_id: str = "owner-ada",
    *,
    source: str = AgentSource.CLOUD,
    **fields: Any,
) -> AgentClient:
    return AgentClientFactory(
        studio=studio, agent_id=agent_id, source=source, owner_id=owner_id, **fields
    )


def make_delegation(
    studio: Studio,
    agent_id: str = "ops-bot",
    owner_id: str = "owner-ada",
    scopes: tuple[str, ...] = ("capability:firestore.ops_note.append:execute",),
    *,
    issued_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    **fields: Any,
) -> Delegation:
    # Unset times keep the factory's: issued a day ago, expiring in a week.
    if issued_at is not None:
        fields["issued_at"] = issued_at
    if expires_at is not None:
        fields["expires_at"] = expires_at
    return DelegationFactory(
        studio=studio, agent_id=agent_id, owner_id=owner_id, scopes=list(scopes), **fields
    )


def issue(admin: Any, agent: AgentClient, **kwargs: Any) -> str:
    """A fresh clear token for ``agent``, issued by ``admin``."""
    _, text = token_issue(
        studio=agent.studio, agent_pk=agent.pk, actor=Actor.staff(admin), **kwargs
    )
    return text


def mirror(
    studio: Studio, collection: str, doc_id: str, data: dict[str, Any], **extra: Any
) -> CloudRecord:
    now = timezone.now()
    record, _ = CloudRecord.objects.update_or_create(
        studio=studio,
        source=CloudRecord.Source.FIRESTORE,
        collection=collection,
        doc_id=doc_id,
        defaults={
            "data": data,
            "content_hash": "0" * 64,
            "read_at": now,
            "first_seen_at": now,
            **extra,
        },
    )
    return record


def clear_keys(url: str, *patterns: str) -> None:
    """Delete the keys matching ``patterns`` in this test run's Redis database (ours alone)."""
    client = redis.Redis.from_url(url)
    try:
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


def clear_limits(url: str | None = None) -> None:
    """Forget every counter in this test run's Redis database (ours alone: REDIS_URL's index)."""
    clear_keys(url or settings.BRAIN.redis_url, f"{KEY_PREFIX}:*")


@pytest.fixture
def clean_limits():
    url = settings.BRAIN.redis_url  # before any test points the limiter at a dead port
    clear_limits(url)
    yield
    clear_limits(url)


@pytest.fixture
def redis_down(settings):
    """Point the limiter (and only what reads settings.BRAIN.redis_url per call) at a dead port."""
    settings.BRAIN = dataclasses.replace(settings.BRAIN, redis_url=DOWN_REDIS)
    yield DOWN_REDIS
