"""`manage.py studio create|list`: clear errors, nothing half-written. (`staff` is a
governance command: tests/governance/test_staff_command.py.)"""

from __future__ import annotations

import io
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from brain.models import Studio

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(*args: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    out = StringIO()
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- studio create ------------------------------------------------------------------------


def test_studio_create_creates_a_studio_with_its_timezone():
    output = run(
        "studio", "create", "east-glaze", "--name", "East Glaze", "--timezone", "Europe/Lisbon"
    )

    studio = Studio.objects.get(slug="east-glaze")
    assert studio.name == "East Glaze"
    assert studio.timezone == "Europe/Lisbon"
    assert "created studio east-glaze (East Glaze, Europe/Lisbon)" in output


def test_studio_list_shows_every_studio(studio):
    assert run("studio", "list").splitlines() == ["north-kiln\tNorth Kiln Ceramics\tEurope/London"]


@pytest.mark.parametrize("slug", ["East_Glaze", "east glaze", "east.glaze", "EAST"])
def test_studio_create_rejects_a_bad_slug_and_writes_nothing(slug):
    with pytest.raises(CommandError) as error:
        run("studio", "create", slug, "--name", "East Glaze")

    assert str(error.value).startswith("slug:")
    assert Studio.objects.count() == 0


def test_studio_create_rejects_an_unknown_timezone_and_writes_nothing():
    with pytest.raises(CommandError) as error:
        run("studio", "create", "east-glaze", "--name", "East Glaze", "--timezone", "Mars/Olympus")

    assert (
        str(error.value)
        == "timezone: 'Mars/Olympus' is not a known time zone (for example Europe/London)."
    )
    assert Studio.objects.count() == 0


def test_studio_create_rejects_a_taken_slug(studio):
    with pytest.raises(CommandError) as error:
        run("studio", "create", "north-kiln", "--name", "Another")

    assert "slug" in str(error.value)
    assert Studio.objects.get(slug="north-kiln").name == "North Kiln Ceramics"
