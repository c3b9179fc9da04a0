"""Formatting filters for cockpit templates."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

from brain.config import format_duration
from brain.models import Membership, Role
from cockpit.sparkline import sparkline_points

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """A duration as staff read it ("15 min", "4 h"), in the config contract's own words."""
    if value is None:
        return ""
    return format_duration(value.total_seconds())


@register.filter
def sparkline(values: list[float]) -> str:
    """Latencies as the points of an SVG polyline (see ``cockpit.sparkline``)."""
    return sparkline_points(values)


@register.filter
def has_role(membership: Membership | None, role_name: str) -> bool:
    """``{% if current_membership|has_role:"operator" %}``: at least that role here."""
    return membership is not None and membership.has_role(Role.from_name(role_name))


# studio_time's styles: how much of the time to print ("age" prints a duration instead).
TIME_FORMATS = {"minutes": "Y-m-d H:i", "seconds": "Y-m-d H:i:s", "date": "Y-m-d"}


@register.filter
def studio_time(value: dt.datetime | None, style: str = "minutes") -> SafeString | str:
    """A moment as staff read it: the studio's wall clock with the zone's real abbreviation
    ("2026-12-03 05:18 EST"), in a ``<time>`` whose ``datetime`` is UTC and whose hover
    shows UTC. ``style`` "seconds" adds seconds, "date" keeps the day; "age" prints how long
    ago ("3 hours") and "until" how long from now, with the studio time on hover.

    The studio's zone is the current time zone: ``studio_view`` activates it for the view.
    """
    if not isinstance(value, dt.datetime):
        return ""
    utc = value.astimezone(dt.UTC).replace(microsecond=0)
    local = timezone.localtime(value)
    if style in ("age", "until"):
        shown = date_format(local, f"{TIME_FORMATS['minutes']} T")
        span = timesince(value) if style == "age" else timeuntil(value)
        return format_html('<time datetime="{}" title="{}">{}</time>', utc.isoformat(), shown, span)
    pattern = TIME_FORMATS.get(style, TIME_FORMATS["minutes"])
    if style == "date":
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            utc.isoformat(),
            date_format(local, f"{TIME_FORMATS['minutes']} T"),
            date_format(local, pattern),
        )
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.isoformat(),
        date_format(utc, pattern),
        date_format(local, pattern),
        local.tzname(),
    )
