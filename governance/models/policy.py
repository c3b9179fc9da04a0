"""Policy rows: exemptions, agent identities and tokens, delegations, decisions, intake review.

Foreign keys to the proposal models are strings, so this module imports no other model module.

History is never lost here: exemptions change state only by appending ``ExemptionEvent``
rows, a delegation's local revocation is its own row that no cloud refresh touches, and a
decision's trace is written once with the decision (Postgres triggers in the migration
reject UPDATE and DELETE on the append-only tables).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ExemptionEventKind(models.TextChoices):
    REQUESTED = "requested", "requested"
    APPROVED = "approved", "approved"
    REVOKED = "revoked", "revoked"


class ExemptionState(models.TextChoices):
    """Derived from an exemption's events and the clock; never stored."""

    PENDING = "pending", "pending approval"
    ACTIVE = "active", "active"
    EXPIRED = "expired", "expired"
    REVOKED = "revoked", "revoked"


class Exemption(models.Model):
    """Permission to run one capability in one studio (optionally for one owner) without
    a per-proposal approval, until ``expires_at``.

    The scope is fixed when the exemption is requested; approval and revocation are
    ``ExemptionEvent`` rows, and the current state is derived from them (see
    ``governance.selectors.policy.exemption_state``).
    """

    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    capability = models.ForeignKey(
        "governance.Capability", on_delete=models.PROTECT, related_name="exemptions"
    )
    owner_id = models.CharField(
        max_length=128, blank=True, help_text="Only this resource owner; empty: any owner."
    )
    justification = models.TextField()
    expires_at = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    # Not a column: set by ``governance.selectors.policy.exemption_list`` from the events.
    state: ExemptionState

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The gateway's lookup: "exemptions of this capability in this studio, not expired".
            models.Index(fields=["studio", "capability", "expires_at"], name="exemption_lookup")
        ]

    def __str__(self) -> str:
        who = f" for {self.owner_id}" if self.owner_id else ""
        return f"exemption #{self.pk} {self.capability_id}{who}"


class ExemptionEvent(models.Model):
    """One step in an exemption's life. Append-only: a trigger rejects UPDATE and DELETE."""

    exemption = models.ForeignKey(Exemption, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=10, choices=ExemptionEventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            # Approved once, revoked once: a second approval or revocation cannot be recorded,
            # even by two admins clicking at the same moment.
            models.UniqueConstraint(
                fields=["exemption", "kind"],
                condition=models.Q(kind__in=["approved", "revoked"]),
                name="exemption_event_once",
            )
        ]

    def __str__(self) -> str:
        return f"exemption #{self.exemption_id} {self.kind}"


class AgentSource(models.TextChoices):
    CLOUD = "cloud", "cloud (mirrored)"
    LOCAL = "local", "local"


class AgentClient(models.Model):
    """An automation or AI tool that may call the agent API: mirrored from the cloud's
    ``agentClients`` collection or created locally by a studio admin.

    ``agent_id`` is the cloud document id (local agents get a ``local-`` prefix) and is
    what delegations, audit rows and proposals name the agent by.
    """

    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    agent_id = models.CharField(max_length=128)
    source = models.CharField(max_length=8, choices=AgentSource.choices)
    name = models.CharField(max_length=200)
    owner_id = models.CharField(
        max_length=128, help_text="The staff owner the agent acts for (cloud uid or username)."
    )
    disabled = models.BooleanField(
        default=False, help_text="Disabled in the cloud, or removed from it."
    )
    cloud_data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    synced_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a complete cloud read no longer had it."
    )

    class Meta:
        ordering = ["name", "agent_id"]
        constraints = [
            models.UniqueConstraint(fields=["studio", "agent_id"], name="agent_one_id_per_studio")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.agent_id})"

    @property
    def is_active(self) -> bool:
        return not self.disabled and self.removed_at is None


class AgentToken(models.Model):
    """An API token of an agent. Only the sha256 of the whole token is stored.

    The token is ``sbk_<prefix>_<secret>``: the prefix finds the row, the hash proves the
    secret. The clear token is shown once, when issued, and never again.
    """

    agent = models.ForeignKey(AgentClient, on_delete=models.PROTECT, related_name="tokens")
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)
    rotated_from = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="rotated_to"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token sbk_{self.prefix}_… of {self.agent_id}"


class Delegation(models.Model):
    """A staff owner's grant to an agent: which capabilities it may use for them, until when.

    Cloud delegations mirror the ``delegations`` collection and are refreshed by every
    sync (the cloud is authoritative for their content); a local revocation
    (``DelegationRevocation``) always wins over whatever the cloud says.
    """

    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=8, choices=AgentSource.choices)
    cloud_doc_id = models.CharField(max_length=200, blank=True)
    agent_id = models.CharField(max_length=128)
    owner_id = models.CharField(max_length=128)
    scopes = models.JSONField(default=list)
    issued_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    cloud_revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    synced_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a complete cloud read no longer had it."
    )

    class Meta:
        ordering = ["agent_id", "owner_id", "-issued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "cloud_doc_id"],
                condition=models.Q(source="cloud"),
                name="delegation_one_per_cloud_doc",
            )
        ]
        indexes = [
            # Every decision reads "the delegations of this agent in this studio".
            models.Index(fields=["studio", "agent_id"], name="delegation_agent"),
        ]

    def __str__(self) -> str:
        return f"delegation #{self.pk} {self.owner_id} → {self.agent_id}"


class DelegationRevocation(models.Model):
    """A staff member revoked a delegation here. No cloud refresh can undo it."""

    delegation = models.OneToOneField(
        Delegation, on_delete=models.PROTECT, related_name="local_revocation"
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    revoked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"revocation of delegation #{self.delegation_id}"


class DecisionKind(models.TextChoices):
    DELEGATION = "delegation", "delegation check"
    SUBMISSION = "submission", "agent submission"
    RATE_LIMIT = "rate_limit", "rate limit"
    QUOTA = "quota", "quota"


class PolicyDecision(models.Model):
    """One policy decision (allowed or denied) with its reason code; its checks are the
    ``DecisionTrace`` rows. Written once, never changed."""

    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    actor_type = models.CharField(max_length=8)
    actor_id = models.CharField(max_length=128)
    capability_id = models.CharField(max_length=100, blank=True)
    resource_owner_id = models.CharField(max_length=128, blank=True)
    allowed = models.BooleanField()
    code = models.CharField(max_length=50)
    message = models.TextField(blank=True)
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    delegation = models.ForeignKey(
        Delegation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    proposal = models.ForeignKey(
        "governance.Proposal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policy_decisions",
    )
    intake_review = models.ForeignKey(
        "governance.IntakeReview",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
    )
    request_id = models.CharField(max_length=128, blank=True)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [
            models.Index(
                fields=["studio", "allowed", "-decided_at"], name="decision_studio_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"decision #{self.pk} {self.kind} {self.code}"


class DecisionTrace(models.Model):
    """One check of a decision: what was checked, with which input, and how it came out."""

    decision = models.ForeignKey(PolicyDecision, on_delete=models.PROTECT, related_name="trace")
    position = models.PositiveSmallIntegerField()
    check_name = models.CharField(max_length=50)
    input = models.JSONField(default=dict)
    passed = models.BooleanField(null=True, help_text="None: the check did not apply.")
    explanation = models.TextField()

    class Meta:
        ordering = ["decision", "position"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "position"], name="trace_one_per_position")
        ]

    def __str__(self) -> str:
        return f"#{self.decision_id}.{self.position} {self.check_name}"


class IntakeStatus(models.TextChoices):
    PENDING = "pending", "awaiting review"
    GRANTED = "granted", "let through by staff"
    DENIED = "denied", "kept blocked by staff"


class IntakeReview(models.Model):
    """An agent submission the intake policy blocked, waiting for (or past) staff review.

    The submission is kept whole so a granted override can create the proposal exactly
    as the agent asked for it.
    """

    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    agent_id = models.CharField(max_length=128)
    owner_id = models.CharField(max_length=128)
    capability_id = models.CharField(max_length=100)
    submission = models.JSONField(help_text="capability, input and rationale as submitted.")
    policy_version = models.CharField(max_length=20)
    categories = models.JSONField(default=list)
    matches = models.JSONField(default=list)
    status = models.CharField(
        max_length=10, choices=IntakeStatus.choices, default=IntakeStatus.PENDING
    )
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_code = models.CharField(max_length=60, blank=True)
    rationale = models.TextField(blank=True)
    proposal = models.ForeignKey(
        "governance.Proposal", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["studio", "status", "-created_at"], name="intake_queue"),
        ]

    def __str__(self) -> str:
        return f"intake #{self.pk} {self.status}"


class AgentRequestKey(models.Model):
    """An agent's Idempotency-Key for a submission: a retry returns the same proposal, and
    the same key with a different request is a conflict (409)."""

    studio = models.ForeignKey("brain.Studio", on_delete=models.PROTECT, related_name="+")
    agent_id = models.CharField(max_length=128)
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    proposal = models.ForeignKey("governance.Proposal", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "agent_id", "key"], name="agent_request_key_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.key}"
