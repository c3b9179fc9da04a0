"""Execution: an approved proposal's run against the outside world, and the kill switches
that stop runs (their state is derived from their append-only events)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from governance.enums import (
    ActorType,
    ExecutionStatus,
    KillSwitchEventKind,
    KillSwitchScope,
)
from governance.models.proposals import Capability, Proposal


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

    # Not columns: set by ``governance.selectors.execution.kill_switch_list`` from the
    # switch's events (on, and the release request waiting for a second admin).
    engaged: bool
    pending_request: KillSwitchEvent | None

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
