"""Connector configuration as a governed change: add, change, remove a studio's connector.

Who may: an admin of the connector's studio (or a superuser), or the machine's operator
through ``manage.py connector`` (``system:cli:<login>``). Each change is audited in the
studio's chain in the same transaction (``connector.added``, ``connector.changed`` with
each field's before and after, ``connector.removed``); a denial is audited after the
rollback. Settings name environment variables for secrets, so no secret is ever audited.
A connector with executions or a kill switch on record cannot be removed
(``CONNECTOR_IN_USE``): the audit trail points at it; disable it instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import ProtectedError

from brain.models import Membership, Role, Studio
from connectors.models import ConnectorConfig
from connectors.services import connector_config_create, connector_settings_validate
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType
from governance.errors import Denied
from governance.reasons import ReasonCode
from governance.services.common import Target, governed


def _require_admin(actor: Actor, studio_id: int) -> None:
    if actor.type == ActorType.SYSTEM:
        return
    if actor.type != ActorType.STAFF or actor.user is None:
        raise Denied(
            ReasonCode.ACTOR_NOT_ALLOWED,
            "Only a studio admin (or the runtime's operator) can configure connectors.",
            studio_id=studio_id,
        )
    if actor.user.is_superuser:
        return
    if not Membership.objects.filter(
        user=actor.user, studio_id=studio_id, role=Role.ADMIN
    ).exists():
        raise Denied(
            ReasonCode.ROLE_REQUIRED,
            "Configuring a studio's connectors needs the admin role there.",
            studio_id=studio_id,
        )


def _described(config: ConnectorConfig) -> dict[str, Any]:
    return {
        "kind": config.kind,
        "name": config.name,
        "settings": config.settings,
        "secret_env": config.secret_env,
        "mode": config.mode,
        "enabled": config.enabled,
    }


def _audit(actor: Actor, config: ConnectorConfig, action: str, metadata: dict[str, Any]) -> None:
    audit_append(
        studio=config.studio_id,
        actor=actor,
        action=action,
        target_type="connector",
        target_id=config.pk,
        metadata=metadata,
    )


def connector_config_add(
    *,
    actor: Actor,
    studio: Studio,
    kind: str,
    name: str,
    settings: Mapping[str, Any],
    secret_env: Mapping[str, str],
    enabled: bool = True,
    mode: str = ConnectorConfig.Mode.READ_ONLY,
) -> ConnectorConfig:
    """Configure a new connector. ``ConfigurationError`` names each bad field."""

    def body() -> ConnectorConfig:
        Studio.objects.select_for_update().get(pk=studio.pk)
        _require_admin(actor, studio.pk)
        config = connector_config_create(
            studio_id=studio.pk,
            kind=kind,
            name=name,
            settings=settings,
            secret_env=secret_env,
            enabled=enabled,
            mode=mode,
        )
        _audit(actor, config, "connector.added", _described(config))
        return config

    return governed(
        "connector.add_denied", actor, body, target=Target("connector", name, studio_id=studio.pk)
    )


def _locked(config_id: int) -> ConnectorConfig:
    return ConnectorConfig.objects.select_for_update().select_related("studio").get(pk=config_id)


def connector_config_change(
    *,
    actor: Actor,
    config_id: int,
    settings: Mapping[str, Any] | None = None,
    unset_settings: tuple[str, ...] = (),
    secret_env: Mapping[str, str] | None = None,
    enabled: bool | None = None,
    mode: str | None = None,
) -> ConnectorConfig:
    """Change a connector: ``settings``/``secret_env`` keys are set (others kept),
    ``unset_settings`` removed; the result is validated as a whole. A change that changes
    nothing is a denial (``INPUT_INVALID``), never a silent no-op."""

    def body() -> ConnectorConfig:
        config = _locked(config_id)
        _require_admin(actor, config.studio_id)
        before = _described(config)
        merged = {key: value for key, value in config.settings.items() if key not in unset_settings}
        merged.update(settings or {})
        secrets = {**config.secret_env, **(secret_env or {})}
        new_mode = mode if mode is not None else config.mode
        config.settings = connector_settings_validate(
            kind=config.kind, settings=merged, secret_env=secrets, mode=new_mode
        )
        config.secret_env = secrets
        config.mode = new_mode
        if enabled is not None:
            config.enabled = enabled
        after = _described(config)
        changes = {
            field: {"before": before[field], "after": after[field]}
            for field in after
            if before[field] != after[field]
        }
        if not changes:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                f"Nothing to change: connector {config.name} already has these settings.",
                studio_id=config.studio_id,
            )
        config.save()
        _audit(actor, config, "connector.changed", {"name": config.name, "changes": changes})
        return config

    return governed("connector.change_denied", actor, body, target=Target("connector", config_id))


def connector_config_remove(*, actor: Actor, config_id: int) -> ConnectorConfig:
    """Remove a connector with its health samples and device readings."""

    def body() -> ConnectorConfig:
        config = _locked(config_id)
        _require_admin(actor, config.studio_id)
        _audit(actor, config, "connector.removed", _described(config))
        pk = config.pk
        try:
            config.delete()
        except ProtectedError:
            raise Denied(
                ReasonCode.CONNECTOR_IN_USE,
                f"Connector {config.name} has executions or a kill switch on record; "
                "disable it instead (`manage.py connector change --disable`).",
                studio_id=config.studio_id,
            ) from None
        config.pk = pk
        return config

    return governed("connector.remove_denied", actor, body, target=Target("connector", config_id))
