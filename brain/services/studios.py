"""Writes for studios and staff memberships."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import structlog
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from brain.models import Membership, Role, Studio

log = structlog.stdlib.get_logger("brain.services.studios")


class StudioError(Exception):
    """Bad input for a studio or staff change; the message says what to fix."""


def studio_create(*, slug: str, name: str, timezone: str = "UTC") -> Studio:
    studio = Studio(slug=slug, name=name, timezone=timezone)
    try:
        studio.full_clean()
    except ValidationError as error:
        raise StudioError(
            "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
        ) from None
    with transaction.atomic():
        studio.save()
    log.info("studio.created", studio=studio.slug)
    return studio


@dataclass(frozen=True)
class StaffAdded:
    membership: Membership
    created_user: bool
    generated_password: str | None


def staff_add(
    *, studio_slug: str, username: str, role: str, email: str = "", password: str | None = None
) -> StaffAdded:
    """Add (or re-role) a staff member of a studio.

    A new user gets ``password`` when given, else a generated one that is returned once and
    stored nowhere in clear. An existing user keeps their password.
    """
    try:
        role_value = Role.from_name(role)
    except ValueError as error:
        raise StudioError(str(error)) from None
    studio = Studio.objects.filter(slug=studio_slug).first()
    if studio is None:
        raise StudioError(f"no studio {studio_slug!r}; create it with `manage.py studio create`")
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.select_for_update().filter(username=username).first()
        created = user is None
        generated = None
        if user is None:
            user = user_model(username=username, email=email)
            if password is None:
                generated = secrets.token_urlsafe(15)
                password = generated
            try:
                validate_password(password, user)
            except ValidationError as error:
                raise StudioError("password rejected: " + " ".join(error.messages)) from None
            user.set_password(password)
            user.save()
        membership, _ = Membership.objects.update_or_create(
            user=user, studio=studio, defaults={"role": role_value}
        )
    log.info("staff.added", studio=studio.slug, role=role_value.label, created_user=created)
    return StaffAdded(membership=membership, created_user=created, generated_password=generated)
