"""Formatting filters for cockpit templates."""

from __future__ import annotations

from datetime import timedelta

from django import template

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
