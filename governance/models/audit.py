"""The audit chain: its heads, its events and the signed daily digests of its heads."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from governance.enums import ActorType


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

    # Not a column: set by ``governance.selectors.audit.label_actors`` for the templates.
    actor_label: str

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
