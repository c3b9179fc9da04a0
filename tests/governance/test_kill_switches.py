"""Kill switches: engage and release as services and from the command line, each audited in
the global chain; denials audited too."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from governance.actors import Actor
from governance.enums import KillSwitchScope
from governance.errors import Denied
from governance.models import AuditEvent, KillSwitch
from governance.reasons import ReasonCode
from governance.selectors import engaged_kill_switch
from governance.services.kill_switches import kill_switch_engage, kill_switch_release
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db


def global_chain():
    return chain(None)


def test_an_operator_engages_and_an_admin_releases_the_global_switch(staff):
    switch = kill_switch_engage(actor=Actor.staff(staff.operator), reason="Hub acting up today")
    assert (switch.scope, switch.engaged, switch.engaged_by) == ("global", True, staff.operator)
    assert engaged_kill_switch("hubitat.device.command") == switch
    released = kill_switch_release(actor=Actor.staff(staff.admin), reason="Hub fixed by vendor")
    assert not released.engaged and released.released_by == staff.admin
    assert engaged_kill_switch("hubitat.device.command") is None
    assert global_chain() == [
        (1, "kill_switch.engaged", "BLOCKED_BY_POLICY"),
        (2, "kill_switch.released", "ALLOWED"),
    ]
    engaged = AuditEvent.objects.get(studio=None, sequence=1)
    assert (engaged.target_type, engaged.target_id) == ("kill_switch", "global")
    assert engaged.metadata == {
        "capability": "",
        "reason": "Hub acting up today",
        "scope": "global",
    }


def test_a_capability_switch_stops_only_that_capability(staff):
    kill_switch_engage(
        actor=Actor.staff(staff.operator),
        reason="Vacuum keeps getting stuck",
        capability_id="roborock.device.command",
    )
    assert engaged_kill_switch("roborock.device.command").label == "roborock.device.command"
    assert engaged_kill_switch("hubitat.device.command") is None


def test_the_global_switch_wins_when_both_are_on(staff):
    actor = Actor.staff(staff.operator)
    kill_switch_engage(
        actor=actor, reason="Vacuum is stuck again", capability_id="roborock.device.command"
    )
    kill_switch_engage(actor=actor, reason="Stop everything tonight")
    assert engaged_kill_switch("roborock.device.command").scope == KillSwitchScope.GLOBAL


@pytest.mark.parametrize(
    ("who", "verb", "kwargs", "code"),
    [
        ("viewer", "engage", {}, ReasonCode.ROLE_REQUIRED),
        ("operator", "release", {}, ReasonCode.ROLE_REQUIRED),
        ("operator", "engage", {"reason": "short"}, ReasonCode.RATIONALE_REQUIRED),
        ("operator", "engage", {"capability_id": "stripe.refund"}, ReasonCode.CAPABILITY_UNKNOWN),
        ("admin", "release", {}, ReasonCode.ILLEGAL_TRANSITION),
    ],
)
def test_kill_switch_denials_are_audited_in_the_global_chain(staff, who, verb, kwargs, code):
    service = kill_switch_engage if verb == "engage" else kill_switch_release
    arguments = {"reason": "A good enough reason", **kwargs}
    with pytest.raises(Denied) as denied:
        service(actor=Actor.staff(getattr(staff, who)), **arguments)
    assert denied.value.code == code
    assert global_chain() == [(1, "kill_switch.denied", code)]
    assert not KillSwitch.objects.filter(engaged=True).exists()


def test_agents_cannot_touch_a_kill_switch(staff):
    with pytest.raises(Denied) as denied:
        kill_switch_engage(actor=Actor.agent("ops-bot"), reason="An agent wants to stop things")
    assert denied.value.code == ReasonCode.ACTOR_NOT_ALLOWED


def test_engaging_an_engaged_switch_is_an_illegal_transition(staff):
    actor = Actor.staff(staff.operator)
    kill_switch_engage(actor=actor, reason="Stop everything tonight")
    with pytest.raises(Denied) as denied:
        kill_switch_engage(actor=actor, reason="Stop everything again")
    assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION


def run(*args) -> list[dict]:
    out = StringIO()
    call_command("kill_switch", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_command_line_engages_lists_and_releases(staff):
    [on] = run(
        "on", "--capability", "hubitat.device.command", "--as", "otto", "--reason", "Hub reboot"
    )
    assert on["engaged"] and on["engaged_by"] == "otto"
    [listed] = run("list")
    assert listed["capability"] == "hubitat.device.command" and listed["engaged"]
    with pytest.raises(CommandError, match=r"^denied ROLE_REQUIRED"):
        run(
            "off",
            "--capability",
            "hubitat.device.command",
            "--as",
            "otto",
            "--reason",
            "Hub is fine now",
        )
    [off] = run(
        "off", "--capability", "hubitat.device.command", "--as", "ada", "--reason", "Hub is back"
    )
    assert not off["engaged"] and off["released_by"] == "ada"
    assert [row[1] for row in global_chain()] == [
        "kill_switch.engaged",
        "kill_switch.denied",
        "kill_switch.released",
    ]


def test_the_command_line_needs_a_scope(staff):
    with pytest.raises(CommandError, match="one of the arguments --global --capability"):
        run("on", "--as", "otto", "--reason", "No scope given here")
