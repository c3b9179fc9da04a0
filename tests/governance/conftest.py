import pytest

from governance.actors import Actor
from governance.models import AuditEvent
from governance.services.proposals import proposal_submit

NOTE_INPUT = {"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"}
CLOSE_INPUT = {"batch_id": "batch-42", "reason": "All pieces picked up last week"}


def chain(studio_id):
    """(sequence, action, reason_code) of a chain, in order: what services are asserted against."""
    return list(
        AuditEvent.objects.filter(studio_id=studio_id)
        .order_by("sequence")
        .values_list("sequence", "action", "reason_code")
    )


@pytest.fixture
def submit(staff):
    """Submit a proposal in north-kiln as the operator (or another actor)."""

    def _submit(capability_id="firestore.ops_note.append", input=None, actor=None, **extra):
        return proposal_submit(
            studio=staff.studio,
            capability_id=capability_id,
            input=input
            if input is not None
            else (CLOSE_INPUT if capability_id == "firestore.batch.close" else NOTE_INPUT),
            rationale=extra.pop("rationale", "The kiln schedule changed this week"),
            actor=actor or Actor.staff(staff.operator),
            **extra,
        )

    return _submit


@pytest.fixture
def second_approver(staff):
    from brain.models import Role
    from tests.factories import MembershipFactory, UserFactory

    return MembershipFactory(
        user=UserFactory(username="bea"), studio=staff.studio, role=Role.APPROVER
    ).user
