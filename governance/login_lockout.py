"""Sign-in lockouts (django-axes), shaped for a studio whose front desk shares one address.

Two counters, both over ``BRAIN_LOGIN_LOCKOUT``:

- **username + address**: ``BRAIN_LOGIN_FAILURE_LIMIT`` (5) wrong passwords for one
  username from one address lock that username at that address. Colleagues behind the same
  address sign in as usual, and the locked user can still sign in from elsewhere.
- **address**: ``BRAIN_LOGIN_ADDRESS_FAILURE_LIMIT`` (100) wrong passwords from one
  address, every username together, lock the address: someone spraying usernames.

A wrong password typed into the re-auth box (sudo mode, ``governance.reauth``) is the
signed-in user's own: it counts towards that user's username + address lock, so guessing
there is throttled too, and never towards the address ceiling that other staff share.
Such failures are recorded under ``REAUTH_AGENT`` instead of the browser's user agent.

A successful sign-in clears that username's failures at that address only: one colleague
signing in never lifts another's lockout, nor the address count of a spray.
See docs/runbooks/sign-in-lockouts.md.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest

# What AXES_LOCKOUT_PARAMETERS must say for ``StudioLockoutHandler`` to read its counters.
LOCKOUT_PARAMETERS: list[str | list[str]] = [["username", "ip_address"], "ip_address"]
# Marks a failure that came from the re-auth box (set on the request by governance.reauth).
REAUTH_FLAG = "brain_reauth"
REAUTH_AGENT = "studio-brain re-auth box"


def _sum(attempts: QuerySet[Any]) -> int:
    return int(attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0)


class StudioLockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        per_user, per_address = self.get_user_attempts(request, credentials)
        failures = _sum(per_user)
        address_failures = _sum(per_address.exclude(user_agent=REAUTH_AGENT))
        if address_failures >= settings.BRAIN.login_address_failure_limit:
            # The address is over its ceiling: everyone there counts as locked.
            return max(failures, get_failure_limit(request, credentials))
        return failures

    def user_login_failed(
        self,
        sender: Any,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        if request is not None and getattr(request, REAUTH_FLAG, False):
            request.axes_user_agent = REAUTH_AGENT  # type: ignore[attr-defined]
        super().user_login_failed(sender, credentials, request, **kwargs)

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        per_user = self.filter_user_attempts(request, credentials)[0]
        count, _ = per_user.delete()
        return int(count)
