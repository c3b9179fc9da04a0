"""Proposals: the capability mirror, the changes people and agents propose, and approvals."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from governance.enums import ActorType, Decision, Mode, ProposalStatus, Risk


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
    # What the queue's search matches: capability, summary, rationale, requester id and the
    # input's JSON (its target), upper-cased. Kept by a Postgres trigger from those columns
    # (migration 0009_review_search; whatever Django writes here is replaced), so a search
    # reads one column instead of building and upper-casing this for every row. Not a
    # GeneratedField: its system check asks the server's version, and commands such as
    # `config show` must run without a database.
    search_text = models.TextField(default="", editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The queue and the navigation count: "pending proposals of a studio, newest first".
            # The id breaks ties, so the page's ORDER BY is read off the index, never sorted.
            models.Index(fields=["studio", "status", "-created_at", "-id"], name="proposal_queue"),
            # The expiry job: "pending proposals past their deadline".
            models.Index(fields=["status", "expires_at"], name="proposal_expiry"),
            # The requester filter's choices: the distinct requesters, read off this alone.
            models.Index(
                fields=["studio", "requested_by_type", "requested_by_id", "requested_by_user"],
                name="proposal_requesters",
            ),
            # The queue's search (pg_trgm): "search_text LIKE '%WORD%'" can be read off it.
            GinIndex(fields=["search_text"], opclasses=["gin_trgm_ops"], name="proposal_search"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.capability_id} ({self.status})"

    @property
    def requester_label(self) -> str:
        return f"{self.requested_by_type}:{self.requested_by_id}"


class PendingProposal(Proposal):
    """The admin's queue of proposals awaiting a decision (a proxy: the same rows)."""

    class Meta:
        proxy = True
        verbose_name = "pending proposal"
        verbose_name_plural = "pending proposals"


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
    # Set when the approver withdrew the grant (decision becomes "withdrawn"); the audit
    # chain keeps the grant, the withdrawal and both rationales.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

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
