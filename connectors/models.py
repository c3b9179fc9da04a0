"""Connector configuration per studio, and the derived rows the health job keeps.

``ConnectorConfig`` holds settings (validated by the kind's pydantic schema) and the
*names* of the environment variables that hold its secrets, never the values.
``ConnectorCall`` is the connector-level log of failed calls and write intents (the
decisions about writes are governance's audit chain). ``ConnectorHealth`` and
``DeviceReading`` are derived and prunable.
"""

from __future__ import annotations

from django.db import models


class ConnectorConfig(models.Model):
    class Mode(models.TextChoices):
        READ_ONLY = "read_only", "read-only"
        WRITE_PILOT = "write_pilot", "write pilot"

    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.CASCADE, related_name="connector_configs"
    )
    kind = models.CharField(max_length=40)
    name = models.SlugField(
        max_length=60, help_text="Short name, unique within the studio, e.g. hub1."
    )
    settings = models.JSONField(
        default=dict, blank=True, help_text="Validated by the kind's settings schema."
    )
    secret_env = models.JSONField(
        default=dict,
        blank=True,
        help_text='Secret key → environment variable holding it, e.g. {"token": "HUBITAT_TOKEN"}. '
        "The value is read from the variable or from <NAME>_FILE, never stored here.",
    )
    enabled = models.BooleanField(default=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.READ_ONLY)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["studio_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "name"], name="connector_config_name_per_studio"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def instance_id(self) -> str:
        """Stable across processes: the circuit breaker's key in Redis."""
        return f"connector-{self.pk}"

    @property
    def read_only(self) -> bool:
        return self.mode != self.Mode.WRITE_PILOT


class ConnectorCall(models.Model):
    """A failed connector call or a write intent, as the connector saw it."""

    studio = models.ForeignKey(
        "brain.Studio", on_delete=models.CASCADE, related_name="connector_calls"
    )
    config = models.ForeignKey(
        ConnectorConfig, on_delete=models.SET_NULL, null=True, related_name="calls"
    )
    kind = models.CharField(max_length=40)
    operation = models.CharField(max_length=40)
    outcome = models.CharField(max_length=16)  # failed | refused | intent | written
    request_id = models.CharField(max_length=128, blank=True)
    job_id = models.CharField(max_length=128, blank=True)
    input_hash = models.CharField(max_length=80)
    output_hash = models.CharField(max_length=80, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    latency_ms = models.FloatField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["studio", "-created_at"], name="connector_call_studio_created")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.operation} {self.outcome} {self.error_code}".strip()


class ConnectorHealth(models.Model):
    """One health sample of a connector. Derived: pruned after the retention period."""

    class Availability(models.TextChoices):
        HEALTHY = "healthy"
        DEGRADED = "degraded"
        DOWN = "down"

    config = models.ForeignKey(
        ConnectorConfig, on_delete=models.CASCADE, related_name="health_samples"
    )
    checked_at = models.DateTimeField()
    availability = models.CharField(max_length=16, choices=Availability.choices)
    latency_ms = models.FloatField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    diagnostic = models.TextField(
        blank=True, help_text="First 200 bytes the peer sent, secrets redacted."
    )
    detail = models.CharField(max_length=300, blank=True)
    devices_total = models.IntegerField(null=True, blank=True)
    devices_reachable = models.IntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    job_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [
            # The page and /readyz read "latest N samples per connector".
            models.Index(fields=["config", "-checked_at"], name="connector_health_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.config_id} {self.availability} {self.checked_at:%Y-%m-%d %H:%M:%S}"


class DeviceReading(models.Model):
    """The latest normalized reading of one device (one row per device, updated in place).

    ``last_seen`` only moves when the device answered, so a device that stops answering
    keeps its last good values and is shown offline once ``last_seen`` is too old.
    """

    config = models.ForeignKey(
        ConnectorConfig, on_delete=models.CASCADE, related_name="device_readings"
    )
    device_id = models.CharField(max_length=100)
    label = models.CharField(max_length=200)
    device_type = models.CharField(max_length=120, blank=True)
    online = models.BooleanField(default=False)
    reachable = models.BooleanField(default=True)
    battery = models.PositiveSmallIntegerField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    problem = models.CharField(max_length=300, blank=True)
    last_activity = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField()

    class Meta:
        ordering = ["config_id", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["config", "device_id"], name="device_reading_one_per_device"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({'online' if self.online else 'offline'})"
