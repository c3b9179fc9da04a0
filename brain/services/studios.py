"""Writes for studios. Staff memberships are governed: ``governance.services.memberships``."""

from __future__ import annotations

import structlog
from django.core.exceptions import ValidationError
from django.db import transaction

from brain.models import Studio

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
