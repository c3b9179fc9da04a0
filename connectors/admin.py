"""Admin for connector configuration; calls, health samples and readings are read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from connectors.models import ConnectorCall, ConnectorConfig, ConnectorHealth, DeviceReading
from connectors.runtime import validate_secret_names, validate_settings
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.registry import kinds


class ConnectorConfigForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=[])

    class Meta:
        model = ConnectorConfig
        fields = ["studio", "kind", "name", "settings", "secret_env", "enabled", "mode"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [(k, k) for k in kinds()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, settings, secret_env = (
            cleaned.get("kind"),
            cleaned.get("settings"),
            cleaned.get("secret_env"),
        )
        if not kind or settings is None:
            return cleaned
        if not isinstance(settings, dict):
            self.add_error("settings", "must be a JSON object of setting → value")
            return cleaned
        try:
            typed = validate_settings(kind, settings)
        except ConfigurationError as error:
            for field, why in error.errors:
                self.add_error("settings", f"{field}: {why}")
            return cleaned
        if not isinstance(secret_env, dict):
            self.add_error("secret_env", 'must be a JSON object such as {"token": "HUBITAT_TOKEN"}')
            return cleaned
        try:
            validate_secret_names(kind, typed, secret_env)
        except ConfigurationError as error:
            for field, why in error.errors:
                self.add_error("secret_env", f"{field}: {why}")
        return cleaned


@admin.register(ConnectorConfig)
class ConnectorConfigAdmin(admin.ModelAdmin):
    form = ConnectorConfigForm
    list_display = ["name", "kind", "studio", "mode", "enabled", "updated_at"]
    list_filter = ["kind", "mode", "enabled", "studio"]
    search_fields = ["name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConnectorCall)
class ConnectorCallAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "operation",
        "outcome",
        "error_code",
        "request_id",
        "job_id",
    ]
    list_filter = ["kind", "outcome", "error_code"]


@admin.register(ConnectorHealth)
class ConnectorHealthAdmin(ReadOnlyAdmin):
    list_display = ["checked_at", "config", "availability", "error_code", "latency_ms"]
    list_filter = ["availability", "error_code"]


@admin.register(DeviceReading)
class DeviceReadingAdmin(ReadOnlyAdmin):
    list_display = ["label", "config", "online", "battery", "last_seen"]
