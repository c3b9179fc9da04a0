"""Cockpit → Policy → Denials: every denial the audit trail holds, not only the policy
layer's decisions. Each row in words (the denial's sentence), its reason code on hover, who,
when, and links to the proposal, the decision trace and the audit entry."""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.actors import Actor
from governance.errors import Denied
from governance.models import AuditEvent, Proposal
from governance.reasons import ReasonCode
from governance.services.agent_submissions import SubmissionDenied, agent_proposal_submit
from governance.services.agents import resolve_actor
from governance.services.approvals import approval_grant
from governance.services.execution import proposal_execute
from governance.services.kill_switches import kill_switch_engage
from governance.services.proposals import proposal_submit
from tests.policy_support import issue, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_limits")]

NOTE = "firestore.ops_note.append"
NOTE_INPUT = {"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"}
RATIONALE = "Checked the input and the dry run"


def url(name, *args, studio="north-kiln"):
    return reverse(f"cockpit:{name}", args=[studio, *args])


def refused(call, *args, **kwargs) -> Denied:
    with pytest.raises(Denied) as caught:
        call(*args, **kwargs)
    return caught.value


def submit(staff, user, **extra) -> Proposal:
    return proposal_submit(
        studio=staff.studio,
        capability_id=NOTE,
        input=extra.pop("input", NOTE_INPUT),
        rationale="The kiln schedule changed this week",
        actor=Actor.staff(user),
    )


def make_denials(staff, *, engage: bool = True) -> dict[str, tuple[Denied, int | None]]:
    """One denial of each everyday kind, each through the service staff would hit (the kill
    switch is engaged once: ``engage=False`` when it is on already)."""
    made: dict[str, tuple[Denied, int | None]] = {}
    made["invalid input"] = (refused(submit, staff, staff.operator, input={"batch_id": ""}), None)

    own = submit(staff, staff.approver)
    made["self-approval"] = (
        refused(
            approval_grant,
            proposal_id=own.pk,
            actor=Actor.staff(staff.approver),
            rationale=RATIONALE,
        ),
        own.pk,
    )

    proposal = submit(staff, staff.operator)
    approval_grant(proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale=RATIONALE)
    made["repeat decision"] = (
        refused(
            approval_grant,
            proposal_id=proposal.pk,
            actor=Actor.staff(staff.approver),
            rationale=RATIONALE,
        ),
        proposal.pk,
    )
    made["writes disabled"] = (
        refused(proposal_execute, proposal_id=proposal.pk, actor=Actor.staff(staff.operator)),
        proposal.pk,
    )
    if engage:
        kill_switch_engage(actor=Actor.staff(staff.admin), reason="Kiln room rewiring today")
    made["kill switch"] = (
        refused(proposal_execute, proposal_id=proposal.pk, actor=Actor.staff(staff.operator)),
        proposal.pk,
    )
    return made


def denials_card(client) -> str:
    response = client.get(url("policy"))
    assert response.status_code == 200
    found = re.search(
        r'<section id="denials".*?</section>', response.content.decode(), flags=re.DOTALL
    )
    assert found, "the page has no Denials card"
    return found.group(0)


def rows(card: str) -> list[str]:
    return re.findall(r"<tr class=\"denial\".*?</tr>", card, flags=re.DOTALL)


def test_the_denials_card_lists_every_kind_of_audited_denial(staff, login):
    made = make_denials(staff)
    codes = {kind: denial.code for kind, (denial, _) in made.items()}
    assert codes == {
        "invalid input": ReasonCode.INPUT_INVALID,
        "self-approval": ReasonCode.SELF_APPROVAL,
        "repeat decision": ReasonCode.ILLEGAL_TRANSITION,
        "writes disabled": ReasonCode.WRITES_DISABLED,
        "kill switch": ReasonCode.BLOCKED_BY_POLICY,
    }

    card = denials_card(login(staff.viewer))
    assert "No denials recorded" not in card
    listed = rows(card)
    assert len(listed) == len(made)
    # Newest first: the kill switch refusal heads the card, the invalid input ends it.
    for row, (kind, (denial, proposal_id)) in zip(listed, reversed(made.items()), strict=True):
        text = html.unescape(row)
        assert denial.message in text, kind
        assert f'title="Reason code {denial.code}' in text, kind
        if proposal_id is not None:
            assert url("proposal_detail", proposal_id) in text, kind
    event = AuditEvent.objects.filter(studio=staff.studio, reason_code="SELF_APPROVAL").get()
    self_approval = html.unescape(listed[3])
    assert "anna" in self_approval and "Approve a proposal" in self_approval
    assert f"{url('audit')}?action=approval.grant_denied&amp;target=proposal:" in listed[3]
    assert f"#{event.sequence}" in self_approval
    assert "otto" in html.unescape(listed[0]) and "Run a proposal" in html.unescape(listed[0])
    assert 'datetime="' in listed[0]


def test_policy_layer_denials_are_listed_once_each_with_their_trace(staff, login):
    agent = make_agent(staff.studio, "ops-bot", "owner-ada")
    actor = resolve_actor(issue(staff.admin, agent))
    # Only a policy decision (and its event): an agent submission without a delegation.
    with pytest.raises(SubmissionDenied) as submission:
        agent_proposal_submit(
            actor=actor,
            capability_id=NOTE,
            input={"batch_id": "b2", "note": "Glaze the new mugs"},
            rationale="Customer asked for the design",
        )
    # A decision behind a governed denial: two events (the decision's and execution.denied).
    proposal = submit(staff, staff.operator)
    execution = refused(proposal_execute, proposal_id=proposal.pk, actor=actor)
    assert submission.value.code == execution.code == ReasonCode.DELEGATION_MISSING

    listed = rows(denials_card(login(staff.viewer)))
    assert len(listed) == 2
    executed, submitted = listed
    assert url("policy_decision", execution.detail["decision_id"]) in executed
    assert url("proposal_detail", proposal.pk) in executed
    assert url("policy_decision", submission.value.decision_id) in submitted
    for row in listed:
        assert 'title="Reason code DELEGATION_MISSING' in row
        assert "ops-bot" in row


def test_the_denials_card_costs_the_same_queries_however_many_it_lists(staff, login):
    client = login(staff.viewer)
    make_denials(staff)
    client.get(url("policy"))
    with CaptureQueriesContext(connection) as few:
        client.get(url("policy"))
    make_denials(staff, engage=False)
    make_denials(staff, engage=False)
    with CaptureQueriesContext(connection) as many:
        card = denials_card(client)
    assert len(rows(card)) == 15
    assert len(many) == len(few)


def test_another_studios_denials_stay_off_the_card(staff, login):
    refused(
        proposal_submit,
        studio=staff.other_studio,
        capability_id=NOTE,
        input={"batch_id": ""},
        rationale="The kiln schedule changed this week",
        actor=Actor.staff(staff.outsider),
    )
    card = denials_card(login(staff.viewer))
    assert rows(card) == [] and "No denials recorded" in card


def test_each_denials_audit_link_finds_its_entry(staff, login):
    make_denials(staff)
    client = login(staff.viewer)
    card = denials_card(client)
    links = re.findall(r'href="([^"]*/audit/\?[^"]*)">Audit entry #(\d+)<', card)
    assert len(links) == 5
    for link, sequence in links:
        timeline = client.get(html.unescape(link)).content.decode()
        assert f"<td>{sequence}</td>" in timeline, link
        assert timeline.count("<tr>") <= 3, link  # the entry, hardly any other
