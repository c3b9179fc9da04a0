"""Kill switches: four scopes, event-sourced state, engage at once, release by two admins;
the command line; every change and denial audited in the right chain."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from brain.models import Role
from governance.actors import Actor
from governance.enums import KillSwitchScope
from governance.errors import Denied
from governance.identity import ResolvedActor
from governance.models import AuditEvent, KillSwitchEvent
from governance.reasons import ReasonCode
from governance.selectors.execution import (
    engaged_kill_switch,
    kill_switch_list,
    kill_switches_covering,
)
from governance.services.kill_switches import (
    kill_switch_engage,
    kill_switch_release_confirm,
    kill_switch_release_request,
)
from tests.factories import ConnectorConfigFactory, MembershipFactory, UserFactory
from tests.governance.conftest import chain

pytestmark = pytest.mark.django_db

HUB = "hubitat.device.command"


@pytest.fixture
def second_admin(staff):
    return MembershipFactory(
        user=UserFactory(username="abe"), studio=staff.studio, role=Role.ADMIN
    ).user


def global_chain():
    return chain(None)


def release(staff, second_admin, **target):
    kill_switch_release_request(
        actor=Actor.staff(staff.admin), reason="The hub firmware is fixed", **target
    )
    return kill_switch_release_confirm(
        actor=Actor.staff(second_admin), reason="Checked it myself, all good", **target
    )


def connector(studio, name="hub1"):
    return ConnectorConfigFactory(studio=studio, kind="hubitat", name=name, settings={})


def test_an_operator_engages_and_two_admins_release_the_global_switch(staff, second_admin):
    switch = kill_switch_engage(actor=Actor.staff(staff.operator), reason="Hub acting up today")
    assert switch.scope == KillSwitchScope.GLOBAL
    stopping = engaged_kill_switch(HUB)
    assert stopping == switch and stopping.engaged_label == "staff:otto"
    kill_switch_release_request(actor=Actor.staff(staff.admin), reason="Hub fixed by vendor")
    assert engaged_kill_switch(HUB) == switch  # a request alone releases nothing
    confirmed = kill_switch_release_confirm(
        actor=Actor.staff(second_admin), reason="Saw the vendor's note too"
    )
    assert engaged_kill_switch(HUB) is None
    assert confirmed.request.actor_label == "staff:ada"
    assert global_chain() == [
        (1, "kill_switch.engaged", "BLOCKED_BY_POLICY"),
        (2, "kill_switch.release_requested", "ALLOWED"),
        (3, "kill_switch.release_confirmed", "ALLOWED"),
    ]
    engaged = AuditEvent.objects.get(studio=None, sequence=1)
    assert (engaged.target_type, engaged.target_id) == ("kill_switch", "global")
    assert engaged.metadata["reason"] == "Hub acting up today"
    # Engaged again later: the history keeps both rounds; the state follows the last one.
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Hub acting up again")
    assert engaged_kill_switch(HUB) is not None
    assert KillSwitchEvent.objects.filter(switch=switch).count() == 4


def test_the_requesting_admin_cannot_confirm_their_own_release(staff):
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Hub acting up today")
    kill_switch_release_request(actor=Actor.staff(staff.admin), reason="Hub fixed by vendor")
    with pytest.raises(Denied) as denied:
        kill_switch_release_confirm(actor=Actor.staff(staff.admin), reason="Confirming it myself")
    assert denied.value.code == ReasonCode.SELF_APPROVAL
    assert engaged_kill_switch(HUB) is not None
    assert global_chain()[-1] == (3, "kill_switch.denied", "SELF_APPROVAL")


def test_a_confirmation_needs_an_open_request(staff, second_admin):
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Hub acting up today")
    with pytest.raises(Denied) as denied:
        kill_switch_release_confirm(actor=Actor.staff(second_admin), reason="Release it right away")
    assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION
    assert engaged_kill_switch(HUB) is not None


def test_a_capability_switch_stops_only_that_capability_in_every_studio(staff):
    kill_switch_engage(
        actor=Actor.staff(staff.operator),
        reason="Vacuum keeps getting stuck",
        capability_id="roborock.device.command",
    )
    stopping = engaged_kill_switch("roborock.device.command", studio_id=staff.other_studio.pk)
    assert stopping.label == "roborock.device.command"
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk) is None


def test_a_studio_switch_stops_that_studio_only_and_is_audited_in_its_chain(staff):
    switch = kill_switch_engage(
        actor=Actor.staff(staff.operator),
        reason="Open studio day, no automation",
        studio=staff.studio,
    )
    assert switch.label == "studio north-kiln"
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk) == switch
    assert engaged_kill_switch(HUB, studio_id=staff.other_studio.pk) is None
    assert chain(staff.studio.pk) == [(1, "kill_switch.engaged", "BLOCKED_BY_POLICY")]
    assert global_chain() == []


def test_a_connector_switch_stops_writes_through_that_connector_only(staff):
    hub1, hub2 = connector(staff.studio), connector(staff.studio, "hub2")
    switch = kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="hub1 is being rewired", connector=hub1
    )
    assert switch.label == "connector hub1"
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk, connector_id=hub1.pk) == switch
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk, connector_id=hub2.pk) is None


def test_the_broadest_switch_is_the_one_named(staff):
    actor = Actor.staff(staff.operator)
    kill_switch_engage(actor=actor, reason="Vacuum is stuck again", capability_id=HUB)
    kill_switch_engage(actor=actor, reason="Open studio day", studio=staff.studio)
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk).scope == KillSwitchScope.STUDIO
    kill_switch_engage(actor=actor, reason="Stop everything tonight")
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk).scope == KillSwitchScope.GLOBAL


def test_the_banner_query_lists_every_switch_covering_the_studio_in_one_query(
    staff, django_assert_num_queries
):
    actor = Actor.staff(staff.operator)
    kill_switch_engage(actor=actor, reason="Vacuum is stuck again", capability_id=HUB)
    kill_switch_engage(
        actor=actor, reason="hub1 is being rewired", connector=connector(staff.studio)
    )
    kill_switch_engage(
        actor=Actor.staff(staff.outsider), reason="Their own studio only", studio=staff.other_studio
    )
    with django_assert_num_queries(1):
        labels = [switch.label for switch in kill_switches_covering(staff.studio.pk)]
    assert sorted(labels) == ["connector hub1", HUB]


@pytest.mark.parametrize(
    ("who", "verb", "kwargs", "code"),
    [
        ("viewer", "engage", {}, ReasonCode.ROLE_REQUIRED),
        ("operator", "request", {}, ReasonCode.ROLE_REQUIRED),
        ("operator", "engage", {"reason": "short"}, ReasonCode.RATIONALE_REQUIRED),
        ("operator", "engage", {"capability_id": "stripe.refund"}, ReasonCode.CAPABILITY_UNKNOWN),
        ("admin", "request", {}, ReasonCode.ILLEGAL_TRANSITION),
    ],
)
def test_kill_switch_denials_are_audited_in_the_global_chain(staff, who, verb, kwargs, code):
    service = kill_switch_engage if verb == "engage" else kill_switch_release_request
    arguments = {"reason": "A good enough reason", **kwargs}
    with pytest.raises(Denied) as denied:
        service(actor=Actor.staff(getattr(staff, who)), **arguments)
    assert denied.value.code == code
    assert global_chain() == [(1, "kill_switch.denied", code)]
    assert not KillSwitchEvent.objects.exists()


def test_an_operator_of_another_studio_cannot_stop_this_one(staff):
    with pytest.raises(Denied) as denied:
        kill_switch_engage(
            actor=Actor.staff(staff.outsider), reason="Not my studio at all", studio=staff.studio
        )
    assert denied.value.code == ReasonCode.ROLE_REQUIRED
    assert chain(staff.studio.pk) == [(1, "kill_switch.denied", "ROLE_REQUIRED")]


def test_an_agent_engages_through_its_identity_but_never_releases(staff):
    bot = ResolvedActor(
        actor_type="agent", actor_id="ops-bot", owner="owner-ada", studio=staff.studio
    )
    switch = kill_switch_engage(
        actor=bot, reason="Saw smoke readings on kiln 2", studio=staff.studio
    )
    assert engaged_kill_switch(HUB, studio_id=staff.studio.pk) == switch
    event = KillSwitchEvent.objects.get(switch=switch)
    assert (event.actor_type, event.actor_label) == ("agent", "agent:ops-bot")
    with pytest.raises(Denied) as elsewhere:
        kill_switch_engage(actor=bot, reason="Stop the other studio", studio=staff.other_studio)
    assert elsewhere.value.code == ReasonCode.TENANT_MISMATCH


def test_an_agent_without_its_identity_or_a_system_job_cannot_engage(staff):
    for actor in (Actor.agent("ops-bot"), Actor.system("drift")):
        with pytest.raises(Denied) as denied:
            kill_switch_engage(actor=actor, reason="Someone wants to stop things")
        assert denied.value.code == ReasonCode.ACTOR_NOT_ALLOWED


def test_engaging_an_engaged_switch_is_an_illegal_transition(staff):
    actor = Actor.staff(staff.operator)
    kill_switch_engage(actor=actor, reason="Stop everything tonight")
    with pytest.raises(Denied) as denied:
        kill_switch_engage(actor=actor, reason="Stop everything again")
    assert denied.value.code == ReasonCode.ILLEGAL_TRANSITION


def test_kill_switch_events_are_append_only(staff):
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Stop everything tonight")
    event = KillSwitchEvent.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        KillSwitchEvent.objects.filter(pk=event.pk).update(reason="rewritten later")
    with pytest.raises(DatabaseError), transaction.atomic():
        KillSwitchEvent.objects.filter(pk=event.pk).delete()


def test_the_list_shows_state_and_the_open_request(staff):
    kill_switch_engage(actor=Actor.staff(staff.operator), reason="Stop everything tonight")
    kill_switch_release_request(actor=Actor.staff(staff.admin), reason="Hub fixed by vendor")
    [row] = kill_switch_list(staff.studio.pk)
    assert row.engaged and row.pending_request.actor_label == "staff:ada"


def run(*args) -> dict:
    """Run `kill_switch ... --json`: stdout is exactly one JSON document."""
    out = StringIO()
    call_command("kill_switch", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_the_command_line_engages_lists_and_two_admins_release(staff, second_admin):
    on = run("on", "--capability", HUB, "--as", "otto", "--reason", "Hub reboot now")
    assert on["engaged"] and on["engaged_by"] == "staff:otto"
    [listed] = run("list")["kill_switches"]
    assert listed["capability"] == HUB and listed["engaged"]
    with pytest.raises(CommandError, match=r"^denied ROLE_REQUIRED"):
        run("off", "--capability", HUB, "--as", "otto", "--reason", "Hub is fine now")
    asked = run("off", "--capability", HUB, "--as", "ada", "--reason", "Hub is back up")
    assert asked["engaged"] and asked["release_requested_by"] == "staff:ada"
    off = run("confirm", "--capability", HUB, "--as", "abe", "--reason", "Checked the hub")
    assert not off["engaged"]
    assert [row[1] for row in global_chain()] == [
        "kill_switch.engaged",
        "kill_switch.denied",
        "kill_switch.release_requested",
        "kill_switch.release_confirmed",
    ]


def test_the_command_line_stops_a_studio_and_a_connector(staff):
    connector(staff.studio)
    studio = run("on", "--studio", "north-kiln", "--as", "otto", "--reason", "Open studio day now")
    assert studio["label"] == "studio north-kiln" and studio["engaged"]
    hub = run(
        "on",
        "--connector",
        "hub1",
        "--studio",
        "north-kiln",
        "--as",
        "otto",
        "--reason",
        "Rewiring it today",
    )
    assert hub["label"] == "connector hub1" and hub["studio"] == "north-kiln"


def test_the_command_line_needs_a_scope(staff):
    with pytest.raises(CommandError, match="name a scope"):
        run("on", "--as", "otto", "--reason", "No scope given here")
