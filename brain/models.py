"""Studios, staff memberships and job runs: the rows every later capability hangs off."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/London).")


class Studio(models.Model):
    """A physical studio whose cloud app is the source of truth. Every domain row carries one."""

    slug = models.SlugField(
        max_length=50,
        unique=True,
        validators=[
            RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Lowercase letters, digits and hyphens.")
        ],
    )
    name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    require_approver_passkeys = models.BooleanField(
        default=False,
        help_text="Dangerous steps (high-risk approvals, kill switch release, exemptions) "
        "accept only a passkey, never the password.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.IntegerChoices):
    """Staff roles, ordered: each includes everything the lower ones may do."""

    VIEWER = 10, "viewer"
    OPERATOR = 20, "operator"
    APPROVER = 30, "approver"
    ADMIN = 40, "admin"

    @classmethod
    def from_name(cls, name: str) -> Role:
        for role in cls:
            if role.label == name:
                return role
        raise ValueError(f"unknown role {name!r}; use one of {', '.join(r.label for r in cls)}")


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="memberships")
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "studio"], name="membership_one_per_studio")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.studio.slug} ({self.get_role_display()})"

    def has_role(self, minimum: Role) -> bool:
        return self.role >= minimum


class JobRun(models.Model):
    """One run (or skipped run) of a scheduled job. Derived and prunable after retention."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    name = models.CharField(max_length=100)
    studio = models.ForeignKey(
        Studio, on_delete=models.CASCADE, null=True, blank=True, related_name="job_runs"
    )
    job_id = models.CharField(
        max_length=64, help_text="Celery task id, or a generated id when run inline."
    )
    request_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # The cockpit and retention read "latest runs of a job for a studio".
            models.Index(
                fields=["studio", "name", "-started_at"], name="jobrun_studio_name_started"
            ),
            models.Index(fields=["started_at"], name="jobrun_started"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.status} {self.started_at:%Y-%m-%d %H:%M}"


class CloudRecord(models.Model):
    """One cloud document or Stripe object as last read: the derived, rebuildable mirror.

    A record that disappears from a complete read is marked deleted (and restored if it
    returns), never silently dropped, so diffs and reconciliation can point at evidence.
    """

    class Source(models.TextChoices):
        FIRESTORE = "firestore"
        STRIPE = "stripe"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="cloud_records")
    source = models.CharField(max_length=16, choices=Source.choices)
    collection = models.CharField(
        max_length=200, help_text="Collection path, e.g. batches/b1/pieces."
    )
    doc_id = models.CharField(max_length=200)
    data = models.JSONField(help_text="Normalized fields (canonical JSON types).")
    content_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the fields, volatile ones excluded."
    )
    source_updated_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(
        help_text="The source's own read time of the last read that saw it."
    )
    first_seen_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "source", "collection", "doc_id"], name="cloudrecord_identity"
            )
        ]
        indexes = [
            models.Index(fields=["studio", "source", "collection"], name="cloudrecord_collection")
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.collection}/{self.doc_id}"


class Snapshot(models.Model):
    """StudioState v3.0 for a studio: a daily row per local date, plus on-demand captures."""

    class Kind(models.TextChoices):
        DAILY = "daily"
        CAPTURE = "capture"

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="snapshots")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    snapshot_date = models.DateField(help_text="The studio's local date.")
    generated_at = models.DateTimeField()
    firestore_read_at = models.DateTimeField(null=True, blank=True)
    stripe_read_at = models.DateTimeField(null=True, blank=True)
    data_source = models.CharField(max_length=16, help_text="demo or cloud")
    content = models.JSONField(help_text="The hashed content: metrics, source hashes, diagnostics.")
    content_hash = models.CharField(max_length=64)
    completeness = models.CharField(max_length=16)
    durations_ms = models.JSONField(default=dict)
    job_run = models.ForeignKey(
        JobRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-generated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "snapshot_date"],
                condition=models.Q(kind="daily"),
                name="snapshot_one_daily",
            )
        ]
        indexes = [models.Index(fields=["studio", "-generated_at"], name="snapshot_latest")]

    def __str__(self) -> str:
        return f"{self.studio.slug} {self.kind} {self.snapshot_date} {self.content_hash[:12]}"


class SnapshotDiff(models.Model):
    """What changed between a snapshot and the one before it."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="snapshot_diffs")
    previous = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    current = models.OneToOneField(Snapshot, on_delete=models.CASCADE, related_name="diff")
    metrics = models.JSONField(help_text="Changed metrics only: {metric: {from, to}}.")
    records = models.JSONField(
        help_text="{collection: {added|removed|changed: {count, examples}}}."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"diff to snapshot {self.current_id}"


class DriftFinding(models.Model):
    """Fresh cloud counts disagreed with the latest snapshot beyond the drift thresholds."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="drift_findings")
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="drift_findings")
    drifts = models.JSONField(help_text="[{metric, expected, observed, delta, ratio}]")
    thresholds = models.JSONField()
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"drift on snapshot {self.snapshot_id} at {self.checked_at:%Y-%m-%d %H:%M}"


class ReconciliationRun(models.Model):
    """One finance reconciliation of a studio's mirror (orders against Stripe). Derived."""

    class Status(models.TextChoices):
        COMPLETE = "complete"  # every order and Stripe collection read to the end
        PARTIAL = "partial"  # matched, but some reads were incomplete: nothing is resolved
        STRIPE_UNAVAILABLE = "stripe_unavailable"  # no Stripe data: no verdict at all

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="reconciliation_runs")
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job_run = models.ForeignKey(
        JobRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=24, choices=Status.choices)
    reason = models.TextField(blank=True, help_text="Why Stripe was unavailable or partial.")
    stripe_read_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    run_flags = models.JSONField(default=list, help_text='Run-level flags: ["stale_stripe_read"].')
    counts = models.JSONField(default=dict, help_text="{class: open flags found by this run}.")
    orders_checked = models.PositiveIntegerField(default=0)
    stripe_objects = models.PositiveIntegerField(default=0)
    flags_new = models.PositiveIntegerField(default=0)
    flags_resolved = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, help_text="{by_class, weeks} as the CLI prints.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["studio", "-started_at"], name="reconrun_studio_started")]

    def __str__(self) -> str:
        return f"reconciliation {self.studio_id} {self.status} {self.started_at:%Y-%m-%d %H:%M}"


class ReconciliationFlag(models.Model):
    """A discrepancy on one order, kept across runs: seen again it is the same flag (its
    ``last_seen_at`` moves); gone from a complete run it is resolved by the cloud."""

    studio = models.ForeignKey(
        Studio, on_delete=models.CASCADE, related_name="reconciliation_flags"
    )
    order_collection = models.CharField(max_length=64)
    order_id = models.CharField(max_length=200)
    flag_class = models.CharField(max_length=40)
    amount_cents = models.BigIntegerField(null=True, blank=True, help_text="Amount at stake.")
    currency = models.CharField(max_length=8, blank=True)
    order_amount_cents = models.BigIntegerField(null=True, blank=True)
    order_currency = models.CharField(max_length=8, blank=True)
    stripe_amount_cents = models.BigIntegerField(null=True, blank=True)
    stripe_currency = models.CharField(max_length=8, blank=True)
    evidence = models.JSONField(default=list, help_text="Stripe ids the flag rests on.")
    details = models.JSONField(default=dict, help_text="{order: {...}, stripe: {...}}.")
    confidence = models.CharField(max_length=8)
    values_hash = models.CharField(
        max_length=64,
        help_text="Canonical hash of the values above: a run rewrites a flag only when it changed.",
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    first_run = models.ForeignKey(
        ReconciliationRun, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    last_run = models.ForeignKey(
        ReconciliationRun, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "order_collection", "order_id", "flag_class"],
                condition=models.Q(resolved_at__isnull=True),
                name="reconflag_one_open",
            )
        ]
        indexes = [
            # The Finance page lists a studio's open flags by class.
            models.Index(
                fields=["studio", "flag_class"],
                condition=models.Q(resolved_at__isnull=True),
                name="reconflag_open_by_class",
            )
        ]

    def __str__(self) -> str:
        return f"{self.flag_class} on {self.order_collection}/{self.order_id}"


# Notification rows live beside their services in brain/notify/; importing them here makes
# them the brain app's models.
from brain.notify.models import (  # noqa: E402, F401
    NotificationDelivery,
    NotificationEvent,
    NotificationPreference,
    WebhookEndpoint,
)
