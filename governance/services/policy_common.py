"""What the policy services share: auditing a denial after its attempt rolled back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from governance.actors import Actor
from governance.audit import audit_append
from governance.errors import Denied


def policy_governed[T](
    action: str,
    actor: Actor,
    body: Callable[[], T],
    *,
    target_type: str,
    target_id: str | int = "",
    metadata: dict[str, Any] | None = None,
) -> T:
    """``body()`` in one transaction; a ``Denied`` rolls it back and is then audited on its own
    (as ``action``, in the denial's studio chain) before it propagates."""
    try:
        with transaction.atomic():
            return body()
    except Denied as denial:
        with transaction.atomic():
            audit_append(
                studio=denial.studio_id,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=denial.detail.get("target_id", target_id),
                reason_code=denial.code,
                metadata={
                    "message": denial.message,
                    **{k: v for k, v in denial.detail.items() if k != "target_id"},
                    **(metadata or {}),
                },
            )
        raise
