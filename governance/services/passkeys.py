"""Passkeys: register one, remove one, use one as sudo mode's step-up; a studio's requirement.

A passkey is the staff member's own: registering and removing it write ``passkey.registered``
and ``passkey.removed`` to the global chain (like logins, it belongs to no studio). Using it
writes ``passkey.used`` to the chain of the studio the step was for (the global chain when
none). A refusal is audited under the same action with its reason code (``PASSKEY_INVALID``,
``PASSKEY_REQUIRED``) after the rollback, as every governed denial is. Changing whether a
studio requires passkeys is an admin's, audited ``studio.passkeys_required`` in its chain.

The WebAuthn checks themselves are in ``governance.passkeys``; here the passkey row is
locked before its sign counter is compared, so two answers racing cannot both pass.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from brain.models import Membership, Role, Studio
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType
from governance.errors import Denied
from governance.models import Passkey
from governance.passkeys import (
    PasskeyCheckFailed,
    answer_credential_id,
    assertion_verify,
    registration_verify,
)
from governance.reasons import ReasonCode
from governance.services.common import Target, governed

NAME_MAX = 60


def _staff_user_id(actor: Actor) -> int:
    if actor.type != ActorType.STAFF or actor.user is None:
        raise Denied(ReasonCode.ACTOR_NOT_ALLOWED, "Only staff have passkeys.")
    return int(actor.user.pk)


def passkey_register(
    *, actor: Actor, name: str, answer: str, challenge: bytes | None, client: dict[str, str]
) -> Passkey:
    """Verify the browser's answer to this session's registration challenge and keep the key.

    ``challenge`` is the one taken from the session (None: expired, used, or never issued).
    A blank or duplicate name is ``INPUT_INVALID`` on ``name``; a bad answer ``PASSKEY_INVALID``.
    """
    cleaned = " ".join((name or "").split())[:NAME_MAX]
    metadata: dict[str, object] = {"name": cleaned, **client}

    def body() -> Passkey:
        user_id = _staff_user_id(actor)
        if not cleaned or "\x00" in cleaned:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                "Give the passkey a name you will recognise (for example “work laptop”).",
                field_errors={"name": ["Name the passkey."]},
            )
        if Passkey.objects.filter(user_id=user_id, name=cleaned).exists():
            raise Denied(
                ReasonCode.INPUT_INVALID,
                f"You already have a passkey called “{cleaned}”.",
                field_errors={"name": ["Choose another name."]},
            )
        if challenge is None:
            raise Denied(
                ReasonCode.PASSKEY_INVALID,
                "The passkey request expired or was already used; press the button again.",
            )
        try:
            key = registration_verify(answer, challenge)
        except PasskeyCheckFailed as failure:
            metadata["check"] = str(failure)
            raise Denied(ReasonCode.PASSKEY_INVALID) from None
        try:
            with transaction.atomic():
                passkey = Passkey.objects.create(
                    user_id=user_id,
                    name=cleaned,
                    credential_id=key.credential_id,
                    public_key=key.public_key,
                    sign_count=key.sign_count,
                    transports=key.transports,
                )
        except IntegrityError:
            raise Denied(
                ReasonCode.PASSKEY_INVALID, "That passkey is already registered."
            ) from None
        audit_append(
            studio=None,
            actor=actor,
            action="passkey.registered",
            target_type="passkey",
            target_id=passkey.pk,
            metadata={**metadata, "transports": key.transports},
        )
        return passkey

    return governed("passkey.registered", actor, body, target=Target("passkey"), metadata=metadata)


def passkey_remove(*, actor: Actor, passkey_id: int, client: dict[str, str]) -> None:
    """Remove one of the actor's own passkeys (someone else's is ``PASSKEY_INVALID``)."""

    def body() -> None:
        user_id = _staff_user_id(actor)
        passkey = Passkey.objects.select_for_update().filter(pk=passkey_id, user_id=user_id).first()
        if passkey is None:
            raise Denied(ReasonCode.PASSKEY_INVALID, "You have no such passkey.")
        name = passkey.name
        passkey.delete()
        audit_append(
            studio=None,
            actor=actor,
            action="passkey.removed",
            target_type="passkey",
            target_id=passkey_id,
            metadata={"name": name, **client},
        )

    governed("passkey.removed", actor, body, target=Target("passkey", passkey_id))


def passkey_use(
    *,
    actor: Actor,
    answer: str,
    challenge: bytes | None,
    studio_id: int | None,
    client: dict[str, str],
) -> Passkey:
    """Verify a step-up assertion from one of the actor's passkeys and move its counter on.

    ``challenge``: this session's step-up challenge, already removed from the session.
    Refusals (``PASSKEY_INVALID``: no or expired challenge, someone else's or an unknown
    credential, a bad signature, origin or RP ID, a counter that did not move) are audited.
    """
    metadata: dict[str, object] = dict(client)

    def body() -> Passkey:
        user_id = _staff_user_id(actor)
        if challenge is None:
            raise Denied(
                ReasonCode.PASSKEY_INVALID,
                "The passkey confirmation expired or was already used; press the button again.",
                studio_id=studio_id,
            )
        try:
            credential_id = answer_credential_id(answer)
        except PasskeyCheckFailed as failure:
            metadata["check"] = str(failure)
            raise Denied(ReasonCode.PASSKEY_INVALID, studio_id=studio_id) from None
        passkey = (
            Passkey.objects.select_for_update()
            .filter(user_id=user_id, credential_id=credential_id)
            .first()
        )
        if passkey is None:
            metadata["check"] = "not one of this user's passkeys"
            raise Denied(
                ReasonCode.PASSKEY_INVALID,
                "That is not one of your registered passkeys.",
                studio_id=studio_id,
            )
        metadata.update(passkey_id=passkey.pk, name=passkey.name)
        try:
            new_count = assertion_verify(answer, challenge, passkey)
        except PasskeyCheckFailed as failure:
            metadata["check"] = str(failure)
            raise Denied(
                ReasonCode.PASSKEY_INVALID, studio_id=studio_id, detail={"target_id": passkey.pk}
            ) from None
        passkey.sign_count = new_count
        passkey.last_used_at = timezone.now()
        passkey.save(update_fields=["sign_count", "last_used_at"])
        audit_append(
            studio=studio_id,
            actor=actor,
            action="passkey.used",
            target_type="passkey",
            target_id=passkey.pk,
            metadata={**metadata, "sign_count": new_count},
        )
        return passkey

    return governed(
        "passkey.used",
        actor,
        body,
        target=Target("passkey", studio_id=studio_id),
        metadata=metadata,
    )


def passkey_password_refused(
    *, actor: Actor, studio_id: int, has_passkeys: bool, client: dict[str, str]
) -> Denied:
    """Audit a password offered where the studio requires a passkey; the denial to show."""
    if has_passkeys:
        message = (
            "This studio accepts only a passkey for this step, not the password: "
            "confirm with your passkey."
        )
    else:
        message = (
            "This studio accepts only a passkey for this step, and you have none yet: "
            "register one under Account → Passkeys, then try again."
        )
    denial = Denied(ReasonCode.PASSKEY_REQUIRED, message, studio_id=studio_id)
    with transaction.atomic():
        audit_append(
            studio=studio_id,
            actor=actor,
            action="passkey.used",
            target_type="passkey",
            reason_code=denial.code,
            metadata={"message": message, "offered": "password", **client},
        )
    return denial


def studio_passkeys_require(*, actor: Actor, studio_id: int, required: bool) -> bool:
    """Turn the studio's "approvers must use a passkey" rule on or off (its admins only).
    Returns whether anything changed; an unchanged value is not audited."""

    def body() -> bool:
        studio = Studio.objects.select_for_update().get(pk=studio_id)
        if actor.type != ActorType.STAFF or actor.user is None:
            raise Denied(ReasonCode.ACTOR_NOT_ALLOWED, studio_id=studio_id)
        if not Membership.objects.filter(
            user=actor.user, studio_id=studio_id, role__gte=Role.ADMIN
        ).exists():
            raise Denied(
                ReasonCode.ROLE_REQUIRED,
                "Only the studio's admins decide whether passkeys are required.",
                studio_id=studio_id,
            )
        if studio.require_approver_passkeys == required:
            return False
        studio.require_approver_passkeys = required
        studio.save(update_fields=["require_approver_passkeys"])
        audit_append(
            studio=studio_id,
            actor=actor,
            action="studio.passkeys_required",
            target_type="studio",
            target_id=studio_id,
            metadata={"required": required},
        )
        return True

    return governed(
        "studio.passkeys_required",
        actor,
        body,
        target=Target("studio", studio_id, studio_id=studio_id),
    )
