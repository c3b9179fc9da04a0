"""The one output shape of a proposal, used by the agent API (cockpit/api.py) and the CLI
(``manage.py proposal``). Both render through these schemas, so a field means the same
thing, with the same name and format, wherever a proposal is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from ninja import Schema

from governance.models import Proposal


# A proposal as an agent sees it: the API's response schema. (A comment, not a docstring:
# a docstring would become the schema's OpenAPI description.)
class ProposalOut(Schema):
    id: int
    status: str
    capability: str
    risk: str
    summary: str
    input: dict[str, Any]
    input_hash: str
    approvals_required: int
    requested_by: str
    created_at: datetime
    expires_at: datetime | None
    # Set when the proposal was just submitted through the API's policy checks.
    decision_id: int | None = None
    replayed: bool = False

    @classmethod
    def fields_of(cls, proposal: Proposal) -> dict[str, Any]:
        return {
            "id": proposal.pk,
            "status": proposal.status,
            "capability": proposal.capability_id,
            "risk": proposal.get_risk_display(),
            "summary": proposal.summary,
            "input": proposal.input,
            "input_hash": proposal.input_hash,
            "approvals_required": proposal.approvals_required,
            "requested_by": proposal.requester_label,
            "created_at": proposal.created_at,
            "expires_at": proposal.expires_at,
        }

    @classmethod
    def of(cls, proposal: Proposal, **extra: Any) -> Self:
        return cls(**cls.fields_of(proposal), **extra)


class ProposalDetailOut(ProposalOut):
    """A proposal as staff see it (the CLI): everything an agent sees, plus the studio, the
    rationale, the dry run and the decision round."""

    studio: str
    rationale: str
    expected_effects: Any
    dry_run: Any
    based_on_snapshot: str
    round: int
    approved_at: datetime | None

    @classmethod
    def fields_of(cls, proposal: Proposal) -> dict[str, Any]:
        return {
            **super().fields_of(proposal),
            "studio": proposal.studio.slug,
            "rationale": proposal.rationale,
            "expected_effects": proposal.expected_effects,
            "dry_run": proposal.dry_run,
            "based_on_snapshot": proposal.based_on_snapshot,
            "round": proposal.decision_round,
            "approved_at": proposal.approved_at,
        }
