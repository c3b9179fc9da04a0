"""Secrets of a connector come from the environment (``NAME``) or a mounted file (``NAME_FILE``).

The database only stores the *names* of the variables, never the values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from connectors.sdk.errors import ConfigurationError

ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,127}$")


def resolve_secrets(
    names: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map secret keys (``token``) to values read from the named variables.

    Raises ``ConfigurationError`` naming the key and the variable when it is unset, set
    twice (``NAME`` and ``NAME_FILE``) or unreadable. The error never shows a value.
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for key, var in names.items():
        if not ENV_NAME_RE.match(var):
            errors.append((f"secrets.{key}", f"{var!r} is not an environment variable name"))
            continue
        direct, file_path = env.get(var), env.get(f"{var}_FILE")
        if direct and file_path:
            errors.append((f"secrets.{key}", f"both {var} and {var}_FILE are set; unset one"))
        elif file_path:
            try:
                values[key] = Path(file_path).read_text(encoding="utf-8").strip()
            except OSError as error:
                errors.append((f"secrets.{key}", f"{var}_FILE cannot be read ({error.strerror})"))
        elif direct:
            values[key] = direct.strip()
        else:
            errors.append(
                (f"secrets.{key}", f"environment variable {var} (or {var}_FILE) is not set")
            )
    if errors:
        raise ConfigurationError(errors)
    return values
