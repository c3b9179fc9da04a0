"""The registry of connector kinds. A kind registers itself when its package is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.sdk.base import Connector

_KINDS: dict[str, type[Connector]] = {}


def register[C: type[Connector]](cls: C) -> C:
    existing = _KINDS.get(cls.kind)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"connector kind {cls.kind!r} is already registered by {existing.__qualname__}"
        )
    _KINDS[cls.kind] = cls
    return cls


def connector_class(kind: str) -> type[Connector]:
    try:
        return _KINDS[kind]
    except KeyError:
        raise KeyError(
            f"unknown connector kind {kind!r}; known: {', '.join(sorted(_KINDS)) or 'none'}"
        ) from None


def kinds() -> list[str]:
    return sorted(_KINDS)
