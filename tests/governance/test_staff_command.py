"""`manage.py staff add`: clear errors, nothing half-written, passwords shown once or read
from stdin. (The audit events of every membership change: test_memberships.py.)"""

from __future__ import annotations

import io
import re
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from brain.models import Membership, Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(*args: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    out = StringIO()
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- staff add ----------------------------------------------------------------------------


def test_staff_add_prints_a_generated_one_time_password_once(studio):
    output = run(
        "staff", "add", "--studio", "north-kiln", "--role", "operator", "--username", "mira"
    )

    match = re.search(r"one-time password \(shown once, not stored in clear\): (\S+)", output)
    assert match
    password = match.group(1)
    assert output.count(password) == 1
    assert "mira is operator of north-kiln" in output
    user = User.objects.get(username="mira")
    assert password not in user.password
    assert user.check_password(password)
    assert Membership.objects.get(user=user, studio=studio).role == Role.OPERATOR


def test_two_generated_passwords_differ(studio):
    first = run("staff", "add", "--studio", "north-kiln", "--role", "viewer", "--username", "a1")
    second = run("staff", "add", "--studio", "north-kiln", "--role", "viewer", "--username", "a2")

    assert first.splitlines()[-1].split()[-1] != second.splitlines()[-1].split()[-1]


def test_staff_add_takes_the_password_from_stdin_and_prints_none(studio, monkeypatch):
    output = run(
        "staff",
        "add",
        "--studio",
        "north-kiln",
        "--role",
        "approver",
        "--username",
        "juno",
        "--password-stdin",
        stdin="glaze-fire-cone-six-42\n",
        monkeypatch=monkeypatch,
    )

    assert "glaze-fire-cone-six-42" not in output
    assert "one-time password" not in output
    assert User.objects.get(username="juno").check_password("glaze-fire-cone-six-42")


def test_staff_add_with_empty_stdin_is_refused(studio, monkeypatch):
    with pytest.raises(CommandError) as error:
        run(
            "staff",
            "add",
            "--studio",
            "north-kiln",
            "--role",
            "viewer",
            "--username",
            "juno",
            "--password-stdin",
            stdin="",
            monkeypatch=monkeypatch,
        )

    assert "standard input was empty" in str(error.value)
    assert not User.objects.filter(username="juno").exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1", "too short"),
        ("password1234", "too common"),
        ("98765432109876", "entirely numeric"),
    ],
)
def test_staff_add_rejects_a_weak_password_and_writes_nothing(
    studio, monkeypatch, password, reason
):
    with pytest.raises(CommandError) as error:
        run(
            "staff",
            "add",
            "--studio",
            "north-kiln",
            "--role",
            "viewer",
            "--username",
            "juno",
            "--password-stdin",
            stdin=f"{password}\n",
            monkeypatch=monkeypatch,
        )

    assert str(error.value).startswith("password rejected:")
    assert reason in str(error.value)
    assert not User.objects.filter(username="juno").exists()
    assert Membership.objects.count() == 0


def test_staff_add_rejects_an_unknown_role(studio):
    with pytest.raises(CommandError) as error:
        run("staff", "add", "--studio", "north-kiln", "--role", "owner", "--username", "juno")

    assert "invalid choice: 'owner'" in str(error.value)
    assert not User.objects.filter(username="juno").exists()


def test_staff_add_rejects_an_unknown_studio():
    with pytest.raises(CommandError) as error:
        run("staff", "add", "--studio", "no-such-studio", "--role", "viewer", "--username", "juno")

    assert (
        str(error.value) == "no studio 'no-such-studio'; create it with `manage.py studio create`"
    )
    assert not User.objects.filter(username="juno").exists()


def test_staff_add_re_roles_an_existing_user_and_keeps_their_password(staff, monkeypatch):
    before = User.objects.get(username="vera").password

    output = run(
        "staff",
        "add",
        "--studio",
        "north-kiln",
        "--role",
        "approver",
        "--username",
        "vera",
        "--password-stdin",
        stdin="a-brand-new-password-77\n",
        monkeypatch=monkeypatch,
    )

    vera = User.objects.get(username="vera")
    assert Membership.objects.get(user=vera, studio=staff.studio).role == Role.APPROVER
    assert vera.password == before
    assert vera.check_password(PASSWORD)
    assert "existing user: password unchanged" in output
    assert "one-time password" not in output


def test_staff_add_adds_an_existing_user_to_a_second_studio(staff):
    run("staff", "add", "--studio", "south-clay", "--role", "viewer", "--username", "vera")

    assert sorted(m.studio.slug for m in Membership.objects.filter(user=staff.viewer)) == [
        "north-kiln",
        "south-clay",
    ]
