"""Reads of a staff member's passkeys: always their own, never another user's."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.models import Passkey


def passkey_list(user_id: int) -> QuerySet[Passkey]:
    # Only what the Account → Passkeys page shows: the public key stays in the database.
    return (
        Passkey.objects.filter(user_id=user_id)
        .defer("public_key", "credential_id")
        .order_by("created_at", "pk")
    )


def passkey_get(user_id: int, passkey_id: int) -> Passkey | None:
    return Passkey.objects.filter(pk=passkey_id, user_id=user_id).first()
