"""Access to cockpit pages: login, studio membership and a minimum role, in one decorator.

A studio the user does not belong to answers 404 exactly like a studio that does not
exist, so slugs cannot be enumerated. A member without the role gets a 403 page that
names the role needed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from brain.models import Membership, Role, Studio
from brain.selectors import membership_get


class RoleRequired(PermissionDenied):
    def __init__(self, needed: Role, studio: Studio) -> None:
        self.needed = needed
        self.studio = studio
        super().__init__(f"This page needs the {needed.label} role in {studio.name}.")


class StudioRequest(HttpRequest):
    """What a cockpit view is given: the request with its studio and the member's role in it
    (set by ``studio_view``) and django-htmx's details (set by ``HtmxMiddleware``)."""

    studio: Studio
    membership: Membership
    htmx: HtmxDetails


View = Callable[..., HttpResponse]


def studio_view(minimum: Role = Role.VIEWER) -> Callable[[View], View]:
    """Resolve ``<studio>`` from the URL into ``request.studio`` for members with ``minimum`` role.

    The view runs in the studio's time zone, so times are shown as the studio lives them
    (stored in UTC).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, studio: str, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = membership_get(request.user, studio)
            if membership is None:
                raise Http404("No such studio.")
            if not membership.has_role(minimum):
                raise RoleRequired(minimum, membership.studio)
            studio_request = cast(StudioRequest, request)
            studio_request.studio = membership.studio
            studio_request.membership = membership
            with timezone.override(membership.studio.timezone):
                return view(studio_request, *args, **kwargs)

        return login_required(wrapper)

    return decorator
