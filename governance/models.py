"""Governance rows: the capability mirror, proposals, approvals and the audit chain."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.db import models

from governance.enums import (
    ActorType,
    Decision,
    ExecutionStatus,
    KillSwitchEventKind,
    KillSwitchScope,
    Mode,
    ProposalStatus,
    Risk,
)


class Capability(models.Model):
    """The database mirror of ``governance.capabilities.REGISTRY`` (code is the source of truth)."""

    id = models.CharField(max_length=100, primary_key=True)
    target = models.CharField(max_length=100)
    description = models.CharField(max_length=300)
    mode = models.CharField(max_length=8, choices=Mode.choices)
    risk = models.PositiveSmallIntegerField(choices=Risk.choices)
    requires_approval = models.BooleanField()
    approvals_required = models.PositiveSmallIntegerField()
    max_calls_per_hour = models.PositiveIntegerField(null=True, blank=True)
    input_schema = models.JSONField(default=dict)
    owner = models.CharField(max_length=100)
    rollback_plan = models.TextField()
    escalation_path = models.TextField()
    docs = models.CharField(max_length=200)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the capability left the code."
    )
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "capabilities"

    def __str__(self) -> str:
        return self.id


class Proposal(models.Model):
    """A change someone wants made through a capability, waiting for (or past) a decision.

    ``input`` is the validated, normalised input; ``input_hash`` is the sha256 of its
    canonical JSON, and every approval records the hash it approved. ``risk`` and
    ``approvals_required`` are copied from the capability at submission so a later change
    to the registry does not move the goalposts of a proposal already in the queue.
    """

    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="proposals")
    capability = models.ForeignKey(Capability, on_delete=models.PROTECT, related_name="proposals")
    status = models.CharField(
        max_length=20, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT
    )
    risk = models.PositiveSmallIntegerField(choices=Risk.choices)
    approvals_required = models.PositiveSmallIntegerField()
    input = models.JSONField()
    input_hash = models.CharField(max_length=64)
    rationale = models.TextField()
    summary = models.CharField(max_length=300)
    expected_effects = models.JSONField(default=list)
    dry_run = models.JSONField(
        default=dict, blank=True, help_text="Filled by the connector where it has a dry run."
    )
    based_on_snapshot = models.CharField(max_length=100, blank=True)
    requested_by_type = models.CharField(max_length=8, choices=ActorType.choices)
    requested_by_id = models.CharField(max_length=100)
    requested_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Each reopen starts a new decision round; only approvals of the current round count.
    decision_round = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The queue and the navigation count: "pending proposals of a studio, newest first".
            # The id breaks ties, so the page's ORDER BY is read off the index, never sorted.
            models.Index(fields=["studio", "status", "-created_at", "-id"], name="proposal_queue"),
            # The expiry job: "pending proposals past their deadline".
            models.Index(fields=["status", "expires_at"], name="proposal_expiry"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.capability_id} ({self.status})"

    @property
    def requester_label(self) -> str:
        return f"{self.requested_by_type}:{self.requested_by_id}"


class Approval(models.Model):
    """One approver's decision on one round of a proposal, bound to the input hash they saw."""

    proposal = models.ForeignKey(Proposal, on_delete=models.PROTECT, related_name="approvals")
    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    decision_round = models.PositiveSmallIntegerField()
    rationale = models.TextField()
    input_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "decision_round", "approver"],
                name="approval_one_per_approver_per_round",
            )
        ]

    def __str__(self) -> str:
        return f"{self.decision} #{self.proposal_id} by {self.approver_id}"


class AuditChainHead(models.Model):
    """The last link of one chain. Appends lock this row, so a chain can never fork.

    One row per studio, plus one with ``studio`` NULL for events that belong to no studio
    (logins, admin changes to users); see docs/adr/0003-audit-chain.md.
    """

    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["studio"], name="audit_head_one_per_chain", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"chain {self.studio_id or 'global'} @ {self.sequence}"


class AuditEvent(models.Model):
    """One link of an append-only hash chain. Written only by ``governance.audit.audit_append``.

    Postgres triggers (migration 0002) reject UPDATE, DELETE and TRUNCATE on this table.
    """

    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sequence = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=8, choices=ActorType.choices)
    actor_id = models.CharField(max_length=100)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    approval_state = models.CharField(max_length=30, blank=True)
    reason_code = models.CharField(max_length=50, blank=True)
    input_hash = models.CharField(max_length=64, blank=True)
    output_hash = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    # The canonical JSON text itself (not jsonb, which would reorder and respace it), so the
    # hashed bytes are stored verbatim and verification never re-encodes them.
    metadata_json = models.TextField(default="{}")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["studio_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "sequence"],
                name="audit_event_one_per_position",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="audit_event_sequence_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["studio", "target_type", "target_id"], name="audit_event_target"),
            models.Index(fields=["studio", "-occurred_at"], name="audit_event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.studio_id or 'global'}#{self.sequence} {self.action}"

    @property
    def metadata(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.metadata_json)
        return value


class AuditDigest(models.Model):
    """A chain head as it stood at digest time, HMAC-SHA256-signed (BRAIN_AUDIT_SIGNING_KEY)."""

    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    day = models.DateField()
    sequence = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "day"], name="audit_digest_one_per_day", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"digest {self.studio_id or 'global'} {self.day} @ {self.sequence}"


class Execution(models.Model):
    """One approved proposal's run against the outside world (at most one per proposal).

    Created only by ``governance.services.execution.proposal_execute`` after every check
    passed; moved queued → running by exactly one worker (a conditional UPDATE), then to
    succeeded or failed. ``idempotency_key`` is handed to the external system (the Firestore
    pilot names its documents with it). A row still ``running`` past ``deadline_at`` belongs
    to a worker that vanished: the reconcile job reads the external state back to settle it.
    """

    proposal = models.ForeignKey(Proposal, on_delete=models.PROTECT, related_name="executions")
    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    capability = models.ForeignKey(Capability, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=10, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by_type = models.CharField(max_length=8, choices=ActorType.choices)
    requested_by_id = models.CharField(max_length=100)
    # Whose resources the write touches (the owner the agent's delegation must come from):
    # the worker decides the delegation again against it right before sending.
    owner_id = models.CharField(max_length=200, blank=True)
    # "approved", or "exempt" when an active exemption stood in for the approval.
    approval_state = models.CharField(max_length=20, blank=True)
    connector = models.ForeignKey(
        "connectors.ConnectorConfig", on_delete=models.PROTECT, related_name="+"
    )
    # The write intent exactly as sent (without the key, which has its own column).
    operation = models.CharField(max_length=60)
    target = models.CharField(max_length=200)
    params = models.JSONField(default=dict)
    input_hash = models.CharField(max_length=64)
    timeout_seconds = models.PositiveIntegerField()
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Task deliveries that found the row; only the first one runs it."
    )
    pre_state = models.JSONField(default=dict, blank=True)
    pre_state_hash = models.CharField(max_length=64, blank=True)
    post_state = models.JSONField(default=dict, blank=True)
    post_state_hash = models.CharField(max_length=64, blank=True)
    result = models.JSONField(default=dict, blank=True)
    output_hash = models.CharField(max_length=64, blank=True)
    replayed = models.BooleanField(default=False)
    reconciled = models.BooleanField(
        default=False, help_text="Settled by reading the external state back, not by the worker."
    )
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at"]
        constraints = [
            # Belt and braces behind the proposal row lock: one execution per proposal, ever.
            models.UniqueConstraint(fields=["proposal"], name="execution_one_per_proposal"),
        ]
        indexes = [
            # The hourly quota: "executions of this capability in this studio since T".
            models.Index(fields=["studio", "capability", "queued_at"], name="execution_quota"),
            # The reconcile job: "running rows past their deadline", "queued rows left behind".
            models.Index(fields=["status", "deadline_at"], name="execution_due"),
        ]

    def __str__(self) -> str:
        return f"execution {self.pk} of #{self.proposal_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


class KillSwitch(models.Model):
    """What a kill switch covers: everything (global), one studio, one capability (in every
    studio) or one connector.

    The row only names the target; whether it is on is derived from its append-only
    ``KillSwitchEvent``s (on when its latest ``engaged`` event has no ``release_confirmed``
    after it). The gateway reads that inside its transaction and the worker again just
    before it writes.
    """

    scope = models.CharField(max_length=10, choices=KillSwitchScope.choices)
    capability_id = models.CharField(max_length=100, blank=True)
    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    connector = models.ForeignKey(
        "connectors.ConnectorConfig",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["scope", "capability_id", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "capability_id", "studio", "connector"],
                name="kill_switch_one_per_target",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        scope=KillSwitchScope.GLOBAL,
                        capability_id="",
                        studio__isnull=True,
                        connector__isnull=True,
                    )
                    | models.Q(
                        scope=KillSwitchScope.STUDIO,
                        capability_id="",
                        studio__isnull=False,
                        connector__isnull=True,
                    )
                    | (
                        models.Q(
                            scope=KillSwitchScope.CAPABILITY,
                            studio__isnull=True,
                            connector__isnull=True,
                        )
                        & ~models.Q(capability_id="")
                    )
                    | models.Q(
                        scope=KillSwitchScope.CONNECTOR,
                        capability_id="",
                        studio__isnull=False,
                        connector__isnull=False,
                    )
                ),
                name="kill_switch_target_matches_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"kill switch {self.label}"

    @property
    def label(self) -> str:
        """How people name it: "global", "studio north-kiln", the capability id, "connector hub1"."""
        if self.scope == KillSwitchScope.GLOBAL:
            return "global"
        if self.scope == KillSwitchScope.CAPABILITY:
            return self.capability_id
        if self.scope == KillSwitchScope.STUDIO:
            return f"studio {self.studio.slug}" if self.studio else "studio"
        return f"connector {self.connector.name}" if self.connector else "connector"

    @property
    def chain_studio_id(self) -> int | None:
        """The audit chain its events go to: the studio's for studio and connector switches,
        the global chain for runtime-wide ones."""
        return self.studio_id


class KillSwitchEvent(models.Model):
    """One change of a kill switch: engaged, release requested (an admin), release confirmed
    (a second, different admin, naming the request). Append-only (a trigger rejects UPDATE
    and DELETE), so the history says who stopped what and when, and who let it run again."""

    switch = models.ForeignKey(KillSwitch, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=KillSwitchEventKind.choices)
    actor_type = models.CharField(max_length=8, choices=ActorType.choices)
    actor_id = models.CharField(max_length=100)
    actor_label = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()
    request = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["switch", "kind", "id"], name="kill_switch_event_latest")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_label}"


# Policy rows (exemptions, agents, delegations, decisions, intake review) live in their own
# module; importing them here is what makes them models of the governance app.
from governance.policy_models import (  # noqa: E402
    AgentClient,
    AgentRequestKey,
    AgentSource,
    AgentToken,
    DecisionKind,
    DecisionTrace,
    Delegation,
    DelegationRevocation,
    Exemption,
    ExemptionEvent,
    ExemptionEventKind,
    ExemptionState,
    IntakeReview,
    IntakeStatus,
    PolicyDecision,
)

__all__ = [
    "AgentClient",
    "AgentRequestKey",
    "AgentSource",
    "AgentToken",
    "Approval",
    "AuditChainHead",
    "AuditDigest",
    "AuditEvent",
    "Capability",
    "DecisionKind",
    "DecisionTrace",
    "Delegation",
    "DelegationRevocation",
    "Execution",
    "Exemption",
    "ExemptionEvent",
    "ExemptionEventKind",
    "ExemptionState",
    "IntakeReview",
    "IntakeStatus",
    "KillSwitch",
    "KillSwitchEvent",
    "PolicyDecision",
    "Proposal",
]
