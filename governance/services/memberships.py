"""Staff memberships: add a member to a studio, change their role, remove them.

Who may: an admin of the studio (or a superuser), or the machine's operator through
``manage.py staff`` (a named system actor, ``system:cli:<login>``): whoever has a shell on
the runtime already has its database. Agents never may. Every change is audited in the
studio's chain in the same transaction (``membership.added``, ``membership.role_changed``,
``membership.removed``); a denial is audited after the rollback. A studio always keeps one
admin (``LAST_ADMIN``). Changes of a studio serialize on its row.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from brain.models import Membership, Role, Studio
from brain.services.studios import StudioError
from governance.actors import Actor
from governance.audit import audit_append
from governance.enums import ActorType
from governance.errors import Denied, GovernanceError
from governance.reasons import ReasonCode
from governance.services.common import Target, governed


class MembershipNotFound(GovernanceError):
    def __init__(self, username: str, studio: str) -> None:
        super().__init__(f"{username!r} is not a member of {studio!r}")


@dataclass(frozen=True)
class MembershipAdded:
    membership: Membership
    created_user: bool
    generated_password: str | None
    # False when the user already had exactly this role (nothing changed, nothing audited).
    changed: bool = True


def _role(name: str) -> Role:
    try:
        return Role.from_name(name)
    except ValueError as error:
        raise StudioError(str(error)) from None


def _locked_studio(slug: str) -> Studio:
    studio = Studio.objects.select_for_update().filter(slug=slug).first()
    if studio is None:
        raise StudioError(f"no studio {slug!r}; create it with `manage.py studio create`")
    return studio


def _require_admin(actor: Actor, studio: Studio) -> None:
    if actor.type == ActorType.SYSTEM:
        return
    if actor.type != ActorType.STAFF or actor.user is None:
        raise Denied(
            ReasonCode.ACTOR_NOT_ALLOWED,
            "Only a studio admin (or the runtime's operator) can change memberships.",
            studio_id=studio.pk,
        )
    if actor.user.is_superuser:
        return
    if not Membership.objects.filter(user=actor.user, studio=studio, role=Role.ADMIN).exists():
        raise Denied(
            ReasonCode.ROLE_REQUIRED,
            f"Changing the staff of {studio.slug} needs the admin role there.",
            studio_id=studio.pk,
        )


def _locked_membership(studio: Studio, username: str) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user", "studio")
        .filter(studio=studio, user__username=username)
        .first()
    )
    if membership is None:
        raise MembershipNotFound(username, studio.slug)
    return membership


def _keep_an_admin(membership: Membership, *, verb: str) -> None:
    """Refuse to leave the studio without an admin (the studio row is locked by the caller)."""
    if membership.role != Role.ADMIN:
        return
    others = Membership.objects.filter(studio=membership.studio, role=Role.ADMIN).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise Denied(
            ReasonCode.LAST_ADMIN,
            f"{membership.user.get_username()} is the last admin of {membership.studio.slug}; "
            f"add another admin before you {verb} them.",
            studio_id=membership.studio_id,
        )


def _audit(actor: Actor, membership: Membership, action: str, **metadata: object) -> None:
    audit_append(
        studio=membership.studio_id,
        actor=actor,
        action=action,
        target_type="membership",
        target_id=membership.pk,
        metadata={"username": membership.user.get_username(), **metadata},
    )


def membership_add(
    *,
    actor: Actor,
    studio_slug: str,
    username: str,
    role: str,
    email: str = "",
    password: str | None = None,
) -> MembershipAdded:
    """Make ``username`` a member of the studio with ``role``, creating the user if needed.

    A new user gets ``password`` when given, else a generated one that is returned once and
    stored nowhere in clear; an existing user keeps theirs. An existing member with another
    role has it changed (``membership.role_changed``, the last-admin rule applies); with the
    same role nothing changes (``changed=False``). Bad input raises ``StudioError``.
    """
    role_value = _role(role)

    def body() -> MembershipAdded:
        studio = _locked_studio(studio_slug)
        _require_admin(actor, studio)
        user_model = get_user_model()
        user = user_model.objects.select_for_update().filter(username=username).first()
        created, generated = user is None, None
        if user is None:
            user = user_model(username=username, email=email)
            chosen = password
            if chosen is None:
                generated = chosen = secrets.token_urlsafe(15)
            try:
                validate_password(chosen, user)
            except ValidationError as error:
                raise StudioError("password rejected: " + " ".join(error.messages)) from None
            user.set_password(chosen)
            user.save()
        membership = Membership.objects.select_for_update().filter(user=user, studio=studio).first()
        if membership is None:
            membership = Membership.objects.create(user=user, studio=studio, role=role_value)
            _audit(
                actor, membership, "membership.added", role=role_value.label, created_user=created
            )
        elif membership.role != role_value:
            _change(actor, membership, role_value)
        else:
            return MembershipAdded(membership, created, generated, changed=False)
        return MembershipAdded(membership, created, generated)

    return governed(
        "membership.add_denied",
        actor,
        body,
        target=Target("membership", f"{studio_slug}:{username}"),
    )


def _change(actor: Actor, membership: Membership, role: Role) -> None:
    if role < Role.ADMIN:
        _keep_an_admin(membership, verb="demote")
    before = membership.get_role_display()
    membership.role = role
    membership.save(update_fields=["role"])
    _audit(actor, membership, "membership.role_changed", before=before, after=role.label)


def membership_role_change(
    *, actor: Actor, studio_slug: str, username: str, role: str
) -> Membership:
    """Give a member another role. The same role again is a denial, never a silent no-op."""
    role_value = _role(role)

    def body() -> Membership:
        studio = _locked_studio(studio_slug)
        _require_admin(actor, studio)
        membership = _locked_membership(studio, username)
        if membership.role == role_value:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                f"{username} is already {role_value.label} of {studio.slug}.",
                studio_id=studio.pk,
            )
        _change(actor, membership, role_value)
        return membership

    return governed(
        "membership.role_change_denied",
        actor,
        body,
        target=Target("membership", f"{studio_slug}:{username}"),
    )


def membership_remove(*, actor: Actor, studio_slug: str, username: str) -> Membership:
    """Remove a member from a studio (the user and their other studios stay)."""

    def body() -> Membership:
        studio = _locked_studio(studio_slug)
        _require_admin(actor, studio)
        membership = _locked_membership(studio, username)
        _keep_an_admin(membership, verb="remove")
        _audit(actor, membership, "membership.removed", role=membership.get_role_display())
        membership.delete()
        return membership

    return governed(
        "membership.remove_denied",
        actor,
        body,
        target=Target("membership", f"{studio_slug}:{username}"),
    )
