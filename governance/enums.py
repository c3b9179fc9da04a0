"""The vocabularies governance rows are written in. Stored values never change meaning."""

from __future__ import annotations

from django.db import models


class Risk(models.IntegerChoices):
    """Ordered so queues sort by it and "high or worse" is a comparison."""

    LOW = 10, "low"
    MEDIUM = 20, "medium"
    HIGH = 30, "high"
    CRITICAL = 40, "critical"


class Mode(models.TextChoices):
    READ = "read"
    WRITE = "write"


class ActorType(models.TextChoices):
    STAFF = "staff"
    AGENT = "agent"
    SYSTEM = "system"


class ProposalStatus(models.TextChoices):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval", "pending approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"


class Decision(models.TextChoices):
    GRANTED = "granted"
    REJECTED = "rejected"
