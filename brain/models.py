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
