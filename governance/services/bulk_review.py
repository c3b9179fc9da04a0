"""Bulk review: approve or reject up to ``BULK_LIMIT`` proposals with one rationale.

Each proposal goes through ``approval_grant`` / ``approval_reject`` with ``bulk=True``: its
own checks, its own audit event, its own audited denial (high and critical risk are never
approved in bulk: BULK_NOT_ALLOWED). The batch runs in one transaction, each item in a
savepoint of it (``governed`` nests), so the batch commits once: that is what makes 100
decisions cheaper than 100 separate ones, and an unexpected error leaves nothing
half-written. The proposals are locked up front in id order, so two batches that overlap
wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction

from brain.models import Role
from governance.actors import Actor
from governance.audit import audit_append
from governance.errors import Denied, ProposalNotFound
from governance.models import Proposal
from governance.reasons import ReasonCode
from governance.services.approvals import approval_grant, approval_reject
from governance.services.common import Target, governed, require_rationale, require_role

BULK_LIMIT = 100


class BulkVerb(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class BulkOutcome:
    """What happened to one proposal of the batch."""

    proposal_id: int
    decided: bool
    status: str = ""  # the proposal's status afterwards ("" when not found)
    code: str = ""  # the denial's reason code ("" when decided)
    message: str = ""


def approval_bulk_decide(
    *,
    studio_id: int,
    proposal_ids: Iterable[int],
    actor: Actor,
    rationale: str,
    verb: BulkVerb,
) -> list[BulkOutcome]:
    """Approve or reject each of ``proposal_ids`` (this studio's; another studio's or a
    missing one is reported not found) with one rationale; one outcome per proposal, in id
    order. The batch itself is denied (audited as ``approval.bulk_denied``, nothing decided)
    for RATIONALE_REQUIRED, ACTOR_NOT_ALLOWED, TENANT_MISMATCH, ROLE_REQUIRED, and
    INPUT_INVALID when it is empty or longer than ``BULK_LIMIT``. Ends with one
    ``approval.bulk_decided`` event counting what happened.
    """
    wanted = sorted(set(proposal_ids))
    service = approval_grant if verb == BulkVerb.APPROVE else approval_reject

    def body() -> list[BulkOutcome]:
        if not wanted or len(wanted) > BULK_LIMIT:
            raise Denied(
                ReasonCode.INPUT_INVALID,
                f"Select between 1 and {BULK_LIMIT} proposals (got {len(wanted)}).",
                studio_id=studio_id,
            )
        cleaned = require_rationale(rationale, studio_id=studio_id)
        require_role(actor, studio_id=studio_id, minimum=Role.APPROVER)
        found = set(
            Proposal.objects.select_for_update()
            .filter(studio_id=studio_id, pk__in=wanted)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        outcomes = []
        for proposal_id in wanted:
            if proposal_id not in found:
                outcomes.append(BulkOutcome(proposal_id, False, message="No such proposal."))
                continue
            try:
                approval = service(
                    proposal_id=proposal_id, actor=actor, rationale=cleaned, bulk=True
                )
            except Denied as denial:
                status = Proposal.objects.filter(pk=proposal_id).values_list("status", flat=True)
                outcomes.append(
                    BulkOutcome(
                        proposal_id, False, status[0], str(denial.code), denial.message
                    )
                )
            except ProposalNotFound:
                outcomes.append(BulkOutcome(proposal_id, False, message="No such proposal."))
            else:
                outcomes.append(BulkOutcome(proposal_id, True, approval.proposal.status))
        decided = sum(1 for outcome in outcomes if outcome.decided)
        audit_append(
            studio=studio_id,
            actor=actor,
            action="approval.bulk_decided",
            target_type="studio",
            target_id=studio_id,
            reason_code=ReasonCode.ALLOWED,
            metadata={
                "verb": str(verb),
                "rationale": cleaned,
                "selected": len(wanted),
                "decided": decided,
                "denied": len(wanted) - decided,
                "proposals": wanted,
            },
        )
        return outcomes

    return governed(
        "approval.bulk_denied",
        actor,
        body,
        target=Target("studio", studio_id, studio_id=studio_id),
        metadata={"verb": str(verb), "selected": len(wanted)},
    )
