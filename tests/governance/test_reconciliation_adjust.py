"""finance.reconciliation.adjust end to end: a flag from a real run becomes a proposal in the
cockpit, a second person approves it, the gateway executes it against the Firestore peer,
and the rollback offer withdraws it. What it names is checked against the mirror when it is
proposed and again when it is executed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from brain.models import CloudRecord, ReconciliationFlag
from brain.services.reconciliation import reconciliation_run
from connectors.firestore.writes import ACTIONS
from governance.actors import Actor
from governance.enums import ExecutionStatus, ProposalStatus
from governance.errors import Denied
from governance.models import AuditEvent, Execution, Proposal
from governance.reasons import ReasonCode
from governance.services.execution import proposal_execute
from governance.services.execution_run import execution_run
from governance.services.proposals import proposal_submit
from governance.write_paths import rollback_offer
from tests.brain.reconciliation.seed import READ_AT, adjustment_input, seed_mirror
from tests.governance.pilots import approve, firestore_pilot, writes

pytestmark = pytest.mark.django_db

ADJUST = "finance.reconciliation.adjust"
SOON = READ_AT + timedelta(hours=1)


@pytest.fixture
def flag(staff):
    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=SOON)
    return ReconciliationFlag.objects.get(studio=staff.studio, flag_class="amount_mismatch")


@pytest.fixture
def cloud_order(flag, firestore_client):
    """The flagged order in the Firestore peer, as the mirror read it."""
    record = CloudRecord.objects.get(
        studio=flag.studio, collection=flag.order_collection, doc_id=flag.order_id
    )
    firestore_client.collection(flag.order_collection).document(flag.order_id).set(record.data)
    return record.data


def submit(staff, data):
    return proposal_submit(
        studio=staff.studio,
        capability_id=ADJUST,
        input=data,
        rationale="Reconciliation flag from this week's run",
        actor=Actor.staff(staff.operator),
    )


def refused(staff, data) -> Denied:
    with pytest.raises(Denied) as caught:
        submit(staff, data)
    assert caught.value.code == ReasonCode.TARGET_NOT_FOUND
    assert not Proposal.objects.filter(studio=staff.studio).exists()
    last = AuditEvent.objects.filter(studio=staff.studio).order_by("-sequence").first()
    assert (last.action, last.reason_code) == ("proposal.submit_denied", "TARGET_NOT_FOUND")
    return caught.value


def run(proposal, user):
    execution = proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(user))
    return execution_run(execution_id=execution.pk)


def actions(firestore_client):
    return {
        snapshot.id: snapshot.to_dict()
        for snapshot in firestore_client.collection(ACTIONS).stream()
    }


def test_a_flag_becomes_a_proposal_is_approved_and_executed_against_firestore(
    staff, login, settings, flag, cloud_order, firestore_client
):
    writes(settings)
    firestore_pilot(staff.studio)
    client = login(staff.operator)
    new = reverse("cockpit:proposal_new", args=[staff.studio.slug])
    initial = client.get(f"{new}?flag={flag.pk}").context["form"].initial
    response = client.post(
        new,
        {
            "capability": initial["capability"],
            "input": initial["input"].replace(
                '"note": ""', '"note": "Customer paid the new price"'
            ),
            "rationale": initial["rationale"],
        },
    )
    assert response.status_code == 302
    proposal = Proposal.objects.get(studio=staff.studio)
    assert proposal.input == {
        **adjustment_input(flag, note="Customer paid the new price"),
        "action": "resolve",
        "reverts": None,
    }
    # The dry run read the order in Firestore and shows the one document it would create.
    assert proposal.dry_run["current"]["order_exists"] is True
    assert [d["collection"] for d in proposal.dry_run["documents"]] == [ACTIONS]

    # The requester cannot approve it; the approver does (medium risk: one approval).
    proposal = approve(staff, proposal)
    assert proposal.status == ProposalStatus.APPROVED

    settled = run(proposal, staff.operator)
    assert settled.status == ExecutionStatus.SUCCEEDED and not settled.replayed
    action_id = f"{proposal.pk}__{settled.idempotency_key}"
    assert settled.result["action_id"] == action_id
    assert settled.pre_state["exists"] is False and settled.post_state["exists"] is True
    written = actions(firestore_client)
    assert list(written) == [action_id]
    document = written[action_id]
    assert {
        key: document[key]
        for key in ("operation", "action", "status", "collection", "documentId", "flagClass")
    } == {
        "operation": "reconciliation.adjust",
        "action": "resolve",
        "status": "requested",
        "collection": "materialsOrders",
        "documentId": flag.order_id,
        "flagClass": "amount_mismatch",
    }
    assert document["evidence"] == flag.evidence and document["localFlagId"] == flag.pk
    assert document["note"] == "Customer paid the new price"
    assert document["inputHash"] == proposal.input_hash and document["studio"] == "north-kiln"
    # The order itself was only read.
    order = firestore_client.collection("materialsOrders").document(flag.order_id).get()
    assert order.to_dict() == cloud_order
    actions_audited = list(
        AuditEvent.objects.filter(studio=staff.studio, target_id=str(proposal.pk))
        .order_by("sequence")
        .values_list("action", "reason_code")
    )
    assert actions_audited == [
        ("proposal.submitted", "ALLOWED"),
        ("approval.granted", "ALLOWED"),
        ("execution.allowed", "ALLOWED"),
        ("execution.succeeded", "ALLOWED"),
    ]

    # The rollback offer withdraws the adjustment; the first document stays, as history.
    offer = rollback_offer(proposal, settled)
    assert offer is not None and offer.input["action"] == "restore"
    assert offer.input["reverts"] == action_id
    undo = approve(staff, submit(staff, offer.input))
    undone = run(undo, staff.operator)
    assert undone.status == ExecutionStatus.SUCCEEDED
    written = actions(firestore_client)
    assert written[action_id]["status"] == "withdrawn"
    undo_id = f"{undo.pk}__{undone.idempotency_key}"
    assert written[action_id]["withdrawnBy"] == undo_id
    assert written[undo_id]["reverts"] == action_id and written[undo_id]["action"] == "restore"
    assert rollback_offer(undo, undone) is None


def test_a_repeat_of_the_same_execution_is_replayed(staff, settings, flag, cloud_order):
    from connectors.runtime import build_connector
    from governance.write_paths import execution_intent

    writes(settings)
    firestore_pilot(staff.studio)
    settled = run(approve(staff, submit(staff, adjustment_input(flag))), staff.operator)
    outcome = build_connector(settled.connector).execute(execution_intent(settled))
    assert outcome.replayed


def test_an_order_the_mirror_does_not_hold_is_refused_with_a_field_error(staff, flag):
    denial = refused(staff, adjustment_input(flag, order_id="ord-nope"))
    assert "ord-nope" in denial.field_errors["order_id"][0]


def test_a_flag_resolved_by_the_cloud_is_refused(staff, flag):
    ReconciliationFlag.objects.filter(pk=flag.pk).update(resolved_at=timezone.now())
    denial = refused(staff, adjustment_input(flag))
    assert "resolved by the cloud" in denial.field_errors["flag_id"][0]


def test_a_flag_of_another_studio_is_refused(staff, flag):
    ReconciliationFlag.objects.filter(pk=flag.pk).update(studio=staff.other_studio)
    denial = refused(staff, adjustment_input(flag))
    assert f"#{flag.pk}" in denial.field_errors["flag_id"][0]


def test_a_class_or_evidence_the_flag_does_not_have_is_refused(staff, flag):
    denial = refused(staff, adjustment_input(flag, flag="duplicate_payment", evidence=["pi_999"]))
    assert "amount_mismatch" in denial.field_errors["flag"][0]
    assert "pi_999" in denial.field_errors["evidence"][0]


def test_a_restore_must_name_an_executed_adjustment(staff, flag):
    denial = refused(
        staff,
        adjustment_input(
            flag, action="restore", reverts="99__0a1b2c3d-0000-4000-8000-000000000000"
        ),
    )
    assert "only an executed adjustment" in denial.field_errors["reverts"][0]


def test_a_refused_adjustment_shows_a_form_error_in_the_cockpit(staff, login, flag):
    ReconciliationFlag.objects.filter(pk=flag.pk).update(resolved_at=timezone.now())
    client = login(staff.operator)
    new = reverse("cockpit:proposal_new", args=[staff.studio.slug])
    import json

    response = client.post(
        new,
        {
            "capability": ADJUST,
            "input": json.dumps(adjustment_input(flag)),
            "rationale": "From a flag",
        },
    )
    assert response.status_code == 422
    assert "resolved by the cloud" in response.content.decode()
    assert not Proposal.objects.filter(studio=staff.studio).exists()


def test_a_flag_resolved_after_approval_is_not_executed(staff, settings, flag, cloud_order):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = approve(staff, submit(staff, adjustment_input(flag)))
    ReconciliationFlag.objects.filter(pk=flag.pk).update(resolved_at=timezone.now())
    with pytest.raises(Denied) as caught:
        proposal_execute(proposal_id=proposal.pk, actor=Actor.staff(staff.operator))
    assert caught.value.code == ReasonCode.WRITES_DISABLED
    assert "resolved by the cloud" in caught.value.message
    assert not Execution.objects.filter(proposal=proposal).exists()


def test_an_order_gone_from_firestore_fails_the_execution_and_writes_nothing(
    staff, settings, flag, firestore_client
):
    writes(settings)
    firestore_pilot(staff.studio)
    proposal = approve(staff, submit(staff, adjustment_input(flag)))
    settled = run(proposal, staff.operator)  # the mirror has the order; Firestore does not
    assert settled.status == ExecutionStatus.FAILED
    assert "no materialsOrders order" in settled.error
    assert actions(firestore_client) == {}
