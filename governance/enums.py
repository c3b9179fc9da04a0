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
    READ = "read", "read"
    WRITE = "write", "write"


class ActorType(models.TextChoices):
    STAFF = "staff", "staff"
    AGENT = "agent", "agent"
    SYSTEM = "system", "system"


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "draft"
    PENDING_APPROVAL = "pending_approval", "pending approval"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"
    EXPIRED = "expired", "expired"
    EXECUTED = "executed", "executed"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"  # withdrawn by the staff member who submitted it


class Decision(models.TextChoices):
    GRANTED = "granted", "granted"
    REJECTED = "rejected", "rejected"
    # A grant its approver took back before the proposal ran; it no longer counts.
    WITHDRAWN = "withdrawn", "withdrawn"


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class KillSwitchScope(models.TextChoices):
    GLOBAL = "global", "everything, every studio"
    STUDIO = "studio", "everything in one studio"
    CAPABILITY = "capability", "one capability, every studio"
    CONNECTOR = "connector", "one connector"


class KillSwitchEventKind(models.TextChoices):
    ENGAGED = "engaged", "engaged"
    RELEASE_REQUESTED = "release_requested", "release requested"
    RELEASE_CONFIRMED = "release_confirmed", "release confirmed"
