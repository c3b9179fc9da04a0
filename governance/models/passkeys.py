"""Passkeys: a staff member's WebAuthn credentials, the strong step-up of sudo mode.

A passkey belongs to a user, not a studio (one key serves every studio the user works in);
whether a studio insists on one is ``brain.Studio.require_approver_passkeys``. Only the public
key is stored. ``sign_count`` is the authenticator's counter as last seen: an assertion whose
counter does not move past it is refused as a possible clone or replay (authenticators that
do not count report 0 every time, which WebAuthn allows).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Passkey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys"
    )
    name = models.CharField(max_length=60, help_text="What the staff member calls it.")
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField(help_text="COSE-encoded public key.")
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="passkey_name_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
