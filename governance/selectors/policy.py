"""Policy reads: active exemptions (for the gateway), agents, delegations, decisions, intake.

Lists are one query for their rows plus prefetches, so the Policy page costs the same
number of queries whatever it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Case,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from governance.capabilities import CAPABILITIES
from governance.enums import Mode, Risk
from governance.models import (
    AgentClient,
    AgentToken,
    DecisionKind,
    Delegation,
    Exemption,
    ExemptionEvent,
    ExemptionEventKind,
    ExemptionState,
    IntakeReview,
    IntakeStatus,
    PolicyDecision,
    Proposal,
)
from governance.policies.delegation import DelegationFacts


def capability_is_exemptable(capability_id: str) -> bool:
    """High and critical write capabilities can never be exempted (and unknown ones neither)."""
    spec = CAPABILITIES.get(capability_id)
    if spec is None:
        return False
    return not (spec.mode == Mode.WRITE and spec.risk >= Risk.HIGH)


def _events_of(kind: ExemptionEventKind, at: datetime) -> Exists:
    return Exists(
        ExemptionEvent.objects.filter(exemption=OuterRef("pk"), kind=kind, occurred_at__lte=at)
    )


def exemption_active(
    *, studio_id: int, capability_id: str, owner_id: str, at: datetime | None = None
) -> Exemption | None:
    """The exemption that lets ``capability_id`` run for ``owner_id`` in this studio at ``at``.

    Approved, not revoked, not expired, scoped to this owner or to any owner (an
    owner-specific one is preferred, then the one expiring first). One query. A capability
    that is (now) high or critical risk is never exempt, whatever rows exist.
    """
    if not capability_is_exemptable(capability_id):
        return None
    at = at or timezone.now()
    return (
        Exemption.objects.filter(
            studio_id=studio_id, capability_id=capability_id, expires_at__gt=at
        )
        .filter(Q(owner_id=owner_id) | Q(owner_id=""))
        .filter(_events_of(ExemptionEventKind.APPROVED, at))
        .exclude(_events_of(ExemptionEventKind.REVOKED, at))
        .order_by(
            Case(When(owner_id="", then=Value(1)), default=Value(0), output_field=IntegerField()),
            "expires_at",
            "pk",
        )
        .first()
    )


def exemption_state(exemption: Exemption, at: datetime | None = None) -> ExemptionState:
    """The state an exemption's events (prefetched as ``events``) give it at ``at``."""
    at = at or timezone.now()
    kinds = {event.kind for event in exemption.events.all() if event.occurred_at <= at}
    if ExemptionEventKind.REVOKED in kinds:
        return ExemptionState.REVOKED
    if exemption.expires_at <= at:
        return ExemptionState.EXPIRED
    if ExemptionEventKind.APPROVED in kinds:
        return ExemptionState.ACTIVE
    return ExemptionState.PENDING


def exemption_list(studio_id: int) -> list[Exemption]:
    """Every exemption of the studio with its events, each with ``state`` set."""
    rows = list(
        Exemption.objects.filter(studio_id=studio_id)
        .select_related("capability", "requested_by")
        .prefetch_related(
            Prefetch("events", queryset=ExemptionEvent.objects.select_related("actor"))
        )
        .order_by("-created_at", "-pk")
    )
    now = timezone.now()
    for row in rows:
        row.state = exemption_state(row, now)
    return rows


def exemption_get(studio_id: int, exemption_id: int) -> Exemption | None:
    return (
        Exemption.objects.filter(studio_id=studio_id, pk=exemption_id)
        .prefetch_related("events")
        .first()
    )


def agent_list(studio_id: int) -> list[AgentClient]:
    return list(
        AgentClient.objects.filter(studio_id=studio_id)
        .prefetch_related(
            Prefetch(
                "tokens",
                queryset=AgentToken.objects.select_related("created_by").order_by("-created_at"),
            )
        )
        .order_by("name", "agent_id")
    )


def agent_get(studio_id: int, agent_pk: int) -> AgentClient | None:
    return AgentClient.objects.filter(studio_id=studio_id, pk=agent_pk).first()


DELEGATION_STATES = {
    "active": "active",
    "expired": "expired",
    "not_yet": "not yet valid",
    "incomplete": "incomplete (no issue or expiry time)",
    "revoked_locally": "revoked here",
    "revoked_in_cloud": "revoked in the cloud",
    "removed": "removed from the cloud",
}


@dataclass(frozen=True)
class DelegationRow:
    delegation: Delegation
    state: str  # a key of DELEGATION_STATES
    agent_name: str

    @property
    def state_label(self) -> str:
        return DELEGATION_STATES[self.state]


def delegation_state(delegation: Delegation, at: datetime) -> str:
    revocation = getattr(delegation, "local_revocation", None)
    if revocation is not None:
        return "revoked_locally"
    if delegation.cloud_revoked_at is not None and delegation.cloud_revoked_at <= at:
        return "revoked_in_cloud"
    if delegation.removed_at is not None:
        return "removed"
    if delegation.issued_at is None or delegation.expires_at is None:
        return "incomplete"
    if at < delegation.issued_at:
        return "not_yet"
    if delegation.expires_at <= at:
        return "expired"
    return "active"


def delegation_list(studio_id: int) -> list[DelegationRow]:
    now = timezone.now()
    names = dict(AgentClient.objects.filter(studio_id=studio_id).values_list("agent_id", "name"))
    rows = (
        Delegation.objects.filter(studio_id=studio_id)
        .select_related("local_revocation__revoked_by", "created_by")
        .order_by("agent_id", "owner_id", "-issued_at", "pk")
    )
    return [
        DelegationRow(row, delegation_state(row, now), names.get(row.agent_id, row.agent_id))
        for row in rows
    ]


def delegation_get(studio_id: int, delegation_id: int) -> Delegation | None:
    return Delegation.objects.filter(studio_id=studio_id, pk=delegation_id).first()


def delegation_facts(
    studio_id: int, agent_id: str, *, presented_id: int | None = None
) -> list[DelegationFacts]:
    """What a delegation decision needs: the agent's delegations (and a presented one). One query."""
    condition = Q(agent_id=agent_id)
    if presented_id is not None:
        condition |= Q(pk=presented_id)
    rows = Delegation.objects.filter(condition, studio_id=studio_id).values_list(
        "pk",
        "agent_id",
        "owner_id",
        "scopes",
        "issued_at",
        "expires_at",
        "cloud_revoked_at",
        "local_revocation__revoked_at",
        "removed_at",
        "source",
    )
    return [
        DelegationFacts(
            id=pk,
            agent_id=agent,
            owner_id=owner,
            scopes=tuple(scope for scope in scopes or () if isinstance(scope, str)),
            issued_at=issued,
            expires_at=expires,
            cloud_revoked_at=cloud_revoked,
            local_revoked_at=local_revoked,
            removed_at=removed,
            source=source,
        )
        for (
            pk,
            agent,
            owner,
            scopes,
            issued,
            expires,
            cloud_revoked,
            local_revoked,
            removed,
            source,
        ) in rows
    ]


def intake_queue(studio_id: int, *, status: str = IntakeStatus.PENDING) -> QuerySet[IntakeReview]:
    qs = IntakeReview.objects.filter(studio_id=studio_id).select_related("decided_by", "proposal")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def intake_get(studio_id: int, review_id: int) -> IntakeReview | None:
    return IntakeReview.objects.filter(studio_id=studio_id, pk=review_id).first()


def decision_get(studio_id: int, decision_id: int) -> PolicyDecision | None:
    """A decision of this studio with its trace (another studio's is None, like a missing one)."""
    return (
        PolicyDecision.objects.filter(studio_id=studio_id, pk=decision_id)
        .select_related("proposal", "intake_review", "delegation")
        .prefetch_related("trace")
        .first()
    )


def proposal_decisions(proposal: Proposal) -> list[PolicyDecision]:
    return list(
        PolicyDecision.objects.filter(proposal=proposal)
        .prefetch_related("trace")
        .order_by("decided_at", "pk")
    )


def proposal_resource_owner(proposal: Proposal) -> str | None:
    """The owner an agent's proposal was submitted for (its allowed submission decision).

    The gateway passes this to ``delegation_decision`` at execution, so an agent can never
    execute against another owner's resources than the one it was delegated by.
    """
    return (
        PolicyDecision.objects.filter(proposal=proposal, kind=DecisionKind.SUBMISSION, allowed=True)
        .values_list("resource_owner_id", flat=True)
        .first()
    )
