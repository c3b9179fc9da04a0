"""Proposal reads: the queue, one proposal, its approvals and whether they still hold.

Every list is one query for its rows (``select_related``) plus one for its count, so a
page costs the same number of queries whatever the queue holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Upper
from django.utils import timezone

from brain.models import Membership, Role
from connectors.sdk.canonical import canonical_hash, canonical_json
from governance.enums import ActorType, Decision, ProposalStatus
from governance.models import AgentClient, Approval, Proposal

# Who decides: the role a proposal's approvers need (admins count too, roles are ordered).
DECIDER_ROLE = Role.APPROVER
# Statuses from which a proposal may still be cancelled or an approval withdrawn.
UNDECIDED_OR_APPROVED = (
    ProposalStatus.DRAFT,
    ProposalStatus.PENDING_APPROVAL,
    ProposalStatus.APPROVED,
)

PROPOSAL_SORTS: dict[str, tuple[str, ...]] = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "risk": ("-risk", "-created_at", "-id"),
    "expiring": ("expires_at", "id"),
}


AGES: dict[str, tuple[timedelta | None, timedelta | None]] = {
    # key: (younger than, older than)
    "1h": (timedelta(hours=1), None),
    "24h": (timedelta(hours=24), None),
    "older-24h": (None, timedelta(hours=24)),
    "older-72h": (None, timedelta(hours=72)),
}


def pending_proposal_count(studio_id: int) -> int:
    """Proposals of a studio waiting for a decision (the navigation badge). One indexed COUNT."""
    return Proposal.objects.filter(
        studio_id=studio_id, status=ProposalStatus.PENDING_APPROVAL
    ).count()


# The queue's search looks at most this many words (each must match somewhere).
SEARCH_TERMS = 5


@dataclass(frozen=True)
class ProposalFilters:
    status: str = ProposalStatus.PENDING_APPROVAL
    risk: int | None = None
    capability: str = ""
    requester: str = ""
    age: str = ""
    sort: str = "newest"
    # Search: every word must appear in the capability, the target (the input), the
    # requester (id or username), the summary or the rationale; case does not matter.
    q: str = ""
    # Saved filters: "needs me" (a staff member has not decided yet and did not propose it),
    # "high risk" (risk at least), "expiring today" (expires before this moment).
    needs_decision_by: int | None = None
    risk_at_least: int | None = None
    expires_before: datetime | None = None


def proposal_list(
    studio_id: int, filters: ProposalFilters, *, now: datetime | None = None
) -> QuerySet[Proposal]:
    """The studio's proposals matching ``filters``, sorted, with what the queue shows preloaded."""
    now = now or timezone.now()
    qs = Proposal.objects.filter(studio_id=studio_id).select_related(
        "capability", "requested_by_user"
    )
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.risk is not None:
        qs = qs.filter(risk=filters.risk)
    if filters.capability:
        qs = qs.filter(capability_id=filters.capability)
    if filters.requester:
        kind, _, ident = filters.requester.partition(":")
        qs = qs.filter(requested_by_type=kind, requested_by_id=ident)
    if filters.age in AGES:
        younger, older = AGES[filters.age]
        if younger is not None:
            qs = qs.filter(created_at__gte=now - younger)
        if older is not None:
            qs = qs.filter(created_at__lt=now - older)
    if filters.risk_at_least is not None:
        qs = qs.filter(risk__gte=filters.risk_at_least)
    if filters.expires_before is not None:
        qs = qs.filter(expires_at__gt=now, expires_at__lte=filters.expires_before)
    if filters.needs_decision_by is not None:
        qs = _needing_decision_by(qs, filters.needs_decision_by)
    if filters.q:
        qs = _searched(qs, filters.q)
    return qs.order_by(*PROPOSAL_SORTS.get(filters.sort, PROPOSAL_SORTS["newest"]))


def _needing_decision_by(qs: QuerySet[Proposal], user_id: int) -> QuerySet[Proposal]:
    """Pending, not proposed by the user, and no decision of theirs in the current round."""
    decided = Approval.objects.filter(
        proposal=OuterRef("pk"), decision_round=OuterRef("decision_round"), approver_id=user_id
    ).exclude(decision=Decision.WITHDRAWN)
    return (
        qs.filter(status=ProposalStatus.PENDING_APPROVAL)
        .exclude(requested_by_type=ActorType.STAFF, requested_by_id=str(user_id))
        .exclude(Exists(decided))
    )


def _searched(qs: QuerySet[Proposal], text: str) -> QuerySet[Proposal]:
    """Each word in ``search_text`` (capability, summary, rationale, requester id, the
    input's JSON with its target) or the requester's username, whatever the case. Its
    trigram index (``proposal_search``) can answer the ``LIKE``. The usernames are looked up
    first, in one query on the small user table, so each word's condition is the index's
    and an id list (an OR with a subquery would make Postgres read every proposal)."""
    terms = text.split()[:SEARCH_TERMS]
    matching_users = Q()
    for term in terms:
        matching_users |= Q(username__icontains=term)
    users = list(get_user_model().objects.filter(matching_users).values_list("pk", "username"))
    for term in terms:
        # Upper-cased by Postgres like the column, so both sides agree on every letter.
        condition = Q(search_text__contains=Upper(Value(term)))
        named = [pk for pk, username in users if term.casefold() in username.casefold()]
        if named:
            condition |= Q(requested_by_user_id__in=named)
        qs = qs.filter(condition)
    return qs


def proposal_requesters(studio_id: int) -> list[tuple[str, str]]:
    """(value, label) of everyone who has proposed in this studio, for the requester filter
    and the queue's "Requested by": staff by name, agents by their name, never "staff:otto".

    The distinct requesters come off the ``proposal_requesters`` index alone (no join, no
    row read); then the people's names and the studio's agents, one small query each."""
    rows = list(
        Proposal.objects.filter(studio_id=studio_id)
        .values_list("requested_by_type", "requested_by_id", "requested_by_user_id")
        .distinct()
        .order_by("requested_by_type", "requested_by_id", "requested_by_user_id")
    )
    user_ids = {user_id for _, _, user_id in rows if user_id is not None}
    people = {
        pk: (f"{first} {last}".strip() or username)
        for pk, username, first, last in get_user_model()
        .objects.filter(pk__in=user_ids)
        .values_list("pk", "username", "first_name", "last_name")
    }
    agents = dict(AgentClient.objects.filter(studio_id=studio_id).values_list("agent_id", "name"))

    def label(kind: str, ident: str, user_id: int | None) -> str:
        if kind == ActorType.STAFF:
            return people.get(user_id, ident) if user_id is not None else ident
        if kind == ActorType.AGENT:
            return f"{agents[ident]} (agent)" if agents.get(ident) else f"Agent {ident}"
        words = ident.replace("_", " ").replace("-", " ").replace(".", " ")
        return f"Studio Brain ({words})"

    return [(f"{kind}:{ident}", label(kind, ident, user_id)) for kind, ident, user_id in rows]


def proposal_get(studio_id: int, proposal_id: int) -> Proposal | None:
    """A proposal of this studio (another studio's proposal is None, exactly like a missing one)."""
    return (
        Proposal.objects.filter(studio_id=studio_id, pk=proposal_id)
        .select_related("capability", "requested_by_user", "studio")
        .first()
    )


def approval_list(proposal: Proposal) -> list[Approval]:
    return list(proposal.approvals.select_related("approver").order_by("created_at", "id"))


def approval_matches(proposal: Proposal) -> bool:
    """True when the stored input still hashes to the proposal's hash and every counted approval's.

    The execution gateway refuses (INPUT_CHANGED) when this is False.
    """
    recomputed = canonical_hash(proposal.input)
    if recomputed != proposal.input_hash:
        return False
    hashes = Approval.objects.filter(
        proposal=proposal, decision_round=proposal.decision_round, decision=Decision.GRANTED
    ).values_list("input_hash", flat=True)
    return all(value == recomputed for value in hashes)


def approval_is_fresh(proposal: Proposal, *, now: datetime | None = None) -> bool:
    """An approval counts for execution only within BRAIN_APPROVAL_WINDOW of ``approved_at``."""
    if proposal.approved_at is None:
        return False
    now = now or timezone.now()
    return now - proposal.approved_at < settings.BRAIN.approval_window


def granted_count(proposal: Proposal) -> int:
    """Distinct approvers who granted the current round: what the quorum counts."""
    return (
        Approval.objects.filter(
            proposal=proposal, decision_round=proposal.decision_round, decision=Decision.GRANTED
        )
        .values("approver")
        .distinct()
        .count()
    )


def canonical_input_text(proposal: Proposal) -> str:
    return canonical_json(proposal.input).decode("ascii")


@dataclass(frozen=True)
class DecisionPanel:
    """Everything the decision panel says, from one staff member's point of view: who has
    approved, who may still approve, how many approvals are left, the deadline, and the
    viewer's own state. Built by ``decision_panel`` in two queries."""

    approvals: list[Approval]  # every round, oldest first
    granted: list[Approval]  # the current round's grants: what the quorum counts
    quorum_left: int
    may_still_approve: list[str]  # usernames: approvers who have not decided this round
    mine: Approval | None  # the viewer's decision of the current round
    is_requester: bool
    deadline: datetime | None
    deadline_kind: str  # "expires" (pending) or "run_by" (approved), "" without a deadline

    @property
    def my_decision(self) -> str:
        return self.mine.decision if self.mine is not None else ""


def decision_panel(proposal: Proposal, user: object) -> DecisionPanel:
    approvals = approval_list(proposal)
    current = [a for a in approvals if a.decision_round == proposal.decision_round]
    granted = [a for a in current if a.decision == Decision.GRANTED]
    decided_by = {a.approver_id for a in current if a.decision != Decision.WITHDRAWN}
    user_id = getattr(user, "pk", None)
    is_requester = (
        proposal.requested_by_type == ActorType.STAFF
        and user_id is not None
        and proposal.requested_by_id == str(user_id)
    )
    requester_id = proposal.requested_by_user_id
    may_still_approve = [
        m.user.get_username()
        for m in Membership.objects.filter(studio_id=proposal.studio_id, role__gte=DECIDER_ROLE)
        .select_related("user")
        .order_by("user__username")
        if m.user_id not in decided_by and m.user_id != requester_id
    ]
    deadline, kind = None, ""
    if proposal.status == ProposalStatus.PENDING_APPROVAL and proposal.expires_at:
        deadline, kind = proposal.expires_at, "expires"
    elif proposal.status == ProposalStatus.APPROVED and proposal.approved_at:
        deadline, kind = proposal.approved_at + settings.BRAIN.approval_window, "run_by"
    return DecisionPanel(
        approvals=approvals,
        granted=granted,
        quorum_left=max(0, proposal.approvals_required - len({a.approver_id for a in granted})),
        may_still_approve=may_still_approve,
        mine=next((a for a in current if a.approver_id == user_id), None),
        is_requester=is_requester,
        deadline=deadline,
        deadline_kind=kind,
    )
