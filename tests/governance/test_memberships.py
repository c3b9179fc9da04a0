"""Staff memberships are governed: every add, role change and removal is audited in the
studio's chain with the change; denials are audited after the rollback; a studio keeps an admin."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from brain.models import Membership, Role
from brain.services.studios import StudioError
from governance.actors import Actor
from governance.errors import Denied
from governance.models import AuditEvent
from governance.reasons import ReasonCode
from governance.services.memberships import (
    MembershipNotFound,
    membership_add,
    membership_remove,
    membership_role_change,
)
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db

CLI = Actor.system("cli:tester")


def events(studio_id):
    return [
        (event.action, event.actor_type, event.actor_id, event.reason_code, event.metadata)
        for event in AuditEvent.objects.filter(studio_id=studio_id).order_by("sequence")
    ]


def test_adding_a_member_writes_membership_added_with_the_actor(staff):
    added = membership_add(
        actor=Actor.staff(staff.admin), studio_slug="north-kiln", username="mira", role="operator"
    )
    assert added.created_user and added.generated_password and added.changed
    assert added.membership.role == Role.OPERATOR
    assert events(staff.studio.pk) == [
        (
            "membership.added",
            "staff",
            str(staff.admin.pk),
            "",
            {"username": "mira", "role": "operator", "created_user": True},
        )
    ]


def test_adding_an_admin_from_the_cli_is_audited(studio):
    out = StringIO()
    call_command(
        "staff",
        "add",
        "--studio",
        "north-kiln",
        "--role",
        "admin",
        "--username",
        "root-ish",
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    printed = json.loads(out.getvalue())
    assert (printed["username"], printed["role"], printed["created_user"]) == (
        "root-ish",
        "admin",
        True,
    )
    [(action, actor_type, actor_id, _, metadata)] = events(studio.pk)
    assert (action, actor_type, metadata["role"]) == ("membership.added", "system", "admin")
    assert actor_id.startswith("cli:")


def test_adding_an_existing_member_again_changes_their_role_or_nothing(staff):
    again = membership_add(actor=CLI, studio_slug="north-kiln", username="vera", role="viewer")
    assert not again.changed and not again.created_user
    assert chain(staff.studio.pk) == []
    membership_add(actor=CLI, studio_slug="north-kiln", username="vera", role="approver")
    assert events(staff.studio.pk) == [
        (
            "membership.role_changed",
            "system",
            "cli:tester",
            "",
            {"username": "vera", "before": "viewer", "after": "approver"},
        )
    ]


def test_a_role_change_is_audited_and_the_same_role_again_is_denied(staff):
    membership = membership_role_change(
        actor=Actor.staff(staff.admin), studio_slug="north-kiln", username="otto", role="approver"
    )
    assert Membership.objects.get(pk=membership.pk).role == Role.APPROVER
    with pytest.raises(Denied) as denied:
        membership_role_change(
            actor=Actor.staff(staff.admin),
            studio_slug="north-kiln",
            username="otto",
            role="approver",
        )
    assert denied.value.code == ReasonCode.INPUT_INVALID
    assert chain(staff.studio.pk) == [
        (1, "membership.role_changed", ""),
        (2, "membership.role_change_denied", "INPUT_INVALID"),
    ]


def test_removing_a_member_is_audited_and_keeps_the_user(staff):
    membership_remove(actor=Actor.staff(staff.admin), studio_slug="north-kiln", username="vera")
    assert not Membership.objects.filter(user=staff.viewer, studio=staff.studio).exists()
    staff.viewer.refresh_from_db()
    assert events(staff.studio.pk) == [
        (
            "membership.removed",
            "staff",
            str(staff.admin.pk),
            "",
            {"username": "vera", "role": "viewer"},
        )
    ]


def test_the_last_admin_can_be_neither_removed_nor_demoted(staff):
    with pytest.raises(Denied) as removed:
        membership_remove(actor=CLI, studio_slug="north-kiln", username="ada")
    assert removed.value.code == ReasonCode.LAST_ADMIN
    with pytest.raises(Denied) as demoted:
        membership_role_change(actor=CLI, studio_slug="north-kiln", username="ada", role="viewer")
    assert demoted.value.code == ReasonCode.LAST_ADMIN
    assert Membership.objects.get(user=staff.admin, studio=staff.studio).role == Role.ADMIN
    assert chain(staff.studio.pk) == [
        (1, "membership.remove_denied", "LAST_ADMIN"),
        (2, "membership.role_change_denied", "LAST_ADMIN"),
    ]


def test_with_a_second_admin_the_first_may_go(staff):
    membership_role_change(actor=CLI, studio_slug="north-kiln", username="anna", role="admin")
    membership_remove(actor=CLI, studio_slug="north-kiln", username="ada")
    assert [row[1] for row in chain(staff.studio.pk)] == [
        "membership.role_changed",
        "membership.removed",
    ]


@pytest.mark.parametrize(
    ("who", "code"),
    [("approver", ReasonCode.ROLE_REQUIRED), ("outsider", ReasonCode.ROLE_REQUIRED)],
)
def test_only_an_admin_of_the_studio_changes_its_staff(staff, who, code):
    actor = Actor.staff(getattr(staff, who))
    with pytest.raises(Denied) as denied:
        membership_role_change(actor=actor, studio_slug="north-kiln", username="vera", role="admin")
    assert denied.value.code == code
    assert Membership.objects.get(user=staff.viewer, studio=staff.studio).role == Role.VIEWER
    assert chain(staff.studio.pk) == [(1, "membership.role_change_denied", str(code))]


def test_an_agent_may_not_change_staff(staff):
    with pytest.raises(Denied) as denied:
        membership_add(
            actor=Actor.agent("bot"), studio_slug="north-kiln", username="eve", role="admin"
        )
    assert denied.value.code == ReasonCode.ACTOR_NOT_ALLOWED
    assert not Membership.objects.filter(user__username="eve").exists()
    assert chain(staff.studio.pk) == [(1, "membership.add_denied", "ACTOR_NOT_ALLOWED")]


def test_bad_input_is_an_error_and_writes_nothing(staff):
    with pytest.raises(StudioError, match="no studio 'nowhere'"):
        membership_add(actor=CLI, studio_slug="nowhere", username="eve", role="viewer")
    with pytest.raises(MembershipNotFound, match="'ghost' is not a member of 'north-kiln'"):
        membership_remove(actor=CLI, studio_slug="north-kiln", username="ghost")
    assert not AuditEvent.objects.exists()


def staff_json(*args):
    out = StringIO()
    call_command("staff", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_the_cli_lists_re_roles_and_removes_staff(staff):
    listed = staff_json("list", "--studio", "north-kiln")
    assert listed["studio"] == "north-kiln"
    assert [(m["username"], m["role"]) for m in listed["staff"]] == [
        ("ada", "admin"),
        ("anna", "approver"),
        ("otto", "operator"),
        ("vera", "viewer"),
    ]
    role = staff_json("role", "--studio", "north-kiln", "--username", "vera", "--role", "operator")
    assert role["role"] == "operator"
    removed = staff_json("remove", "--studio", "north-kiln", "--username", "otto", "--as", "ada")
    assert removed["removed"] and removed["username"] == "otto"
    actions = [(e[0], e[1]) for e in events(staff.studio.pk)]
    assert actions == [("membership.role_changed", "system"), ("membership.removed", "staff")]


def test_the_cli_exits_1_on_a_denial_and_2_on_a_missing_member(staff):
    out = StringIO()
    with pytest.raises(CommandError, match=r"^denied LAST_ADMIN: ") as denied:
        call_command(
            "staff",
            "remove",
            "--studio",
            "north-kiln",
            "--username",
            "ada",
            "--json",
            stdout=out,
            stderr=StringIO(),
        )
    assert denied.value.returncode == 1
    assert json.loads(out.getvalue())["reason_code"] == "LAST_ADMIN"
    with pytest.raises(CommandError, match="not a member") as missing:
        call_command(
            "staff", "remove", "--studio", "north-kiln", "--username", "ghost", stdout=StringIO()
        )
    assert missing.value.returncode == 2
