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

DOWN_REDIS = "redis://127.0.0.1:1/0"


def make_agent(
    studio: Studio,
    agent_id: str = "ops-bot",
    owner_id: str = "owner-ada",
    *,
    source: str = AgentSource.CLOUD,
    **fields: Any,
) -> AgentClient:
    now = timezone.now()
    return AgentClient.objects.create(
        studio=studio,
        agent_id=agent_id,
        source=source,
        name=fields.pop("name", agent_id.replace("-", " ").title()),
        owner_id=owner_id,
        created_at=now,
        updated_at=now,
        **fields,
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
    now = timezone.now()
    return Delegation.objects.create(
        studio=studio,
        source=fields.pop("source", AgentSource.CLOUD),
        cloud_doc_id=fields.pop("cloud_doc_id", f"d-{agent_id}-{owner_id}-{now.timestamp()}"),
        agent_id=agent_id,
        owner_id=owner_id,
        scopes=list(scopes),
        issued_at=issued_at or now - dt.timedelta(days=1),
        expires_at=expires_at or now + dt.timedelta(days=7),
        created_at=now,
        **fields,
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


def clear_limits(url: str | None = None) -> None:
    """Forget every counter in this test run's Redis database (ours alone: REDIS_URL's index)."""
    client = redis.Redis.from_url(url or settings.BRAIN.redis_url)
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


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
