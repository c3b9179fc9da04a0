"""The proposal lifecycle as ONE explicit table. Every status change is looked up here.

A (status, event) pair that is not in the table is an illegal transition: the service
raises ``Denied(ILLEGAL_TRANSITION)`` and audits the attempt. Nothing changes status
without going through ``next_status``.
"""

from __future__ import annotations

from enum import StrEnum

from governance.enums import ProposalStatus as S


class Event(StrEnum):
    SUBMIT = "submit"  # draft → pending approval
    VOTE = "vote"  # an approval that does not yet reach the quorum
    APPROVE = "approve"  # the approval that reaches the quorum
    REJECT = "reject"
    EXPIRE = "expire"  # TTL passed while pending, or approval window passed unexecuted
    REOPEN = "reopen"  # an admin sends a rejected proposal back for decision
    EXECUTE_SUCCEED = "execute_succeed"  # the execution gateway reports the write applied
    EXECUTE_FAIL = "execute_fail"  # the execution gateway reports the write failed
    WITHDRAW = "withdraw"  # an approver takes their approval back before the proposal runs
    CANCEL = "cancel"  # the staff member who submitted it withdraws the proposal


TRANSITIONS: dict[tuple[S, Event], S] = {
    (S.DRAFT, Event.SUBMIT): S.PENDING_APPROVAL,
    (S.PENDING_APPROVAL, Event.VOTE): S.PENDING_APPROVAL,
    (S.PENDING_APPROVAL, Event.APPROVE): S.APPROVED,
    (S.PENDING_APPROVAL, Event.REJECT): S.REJECTED,
    (S.PENDING_APPROVAL, Event.EXPIRE): S.EXPIRED,
    (S.APPROVED, Event.EXPIRE): S.EXPIRED,
    (S.REJECTED, Event.REOPEN): S.PENDING_APPROVAL,
    (S.APPROVED, Event.EXECUTE_SUCCEED): S.EXECUTED,
    (S.APPROVED, Event.EXECUTE_FAIL): S.FAILED,
    # An active exemption stands in for approval: the proposal runs from pending approval.
    (S.PENDING_APPROVAL, Event.EXECUTE_SUCCEED): S.EXECUTED,
    (S.PENDING_APPROVAL, Event.EXECUTE_FAIL): S.FAILED,
    # A withdrawn approval no longer counts: an approved proposal drops below its quorum.
    (S.PENDING_APPROVAL, Event.WITHDRAW): S.PENDING_APPROVAL,
    (S.APPROVED, Event.WITHDRAW): S.PENDING_APPROVAL,
    (S.DRAFT, Event.CANCEL): S.CANCELLED,
    (S.PENDING_APPROVAL, Event.CANCEL): S.CANCELLED,
    (S.APPROVED, Event.CANCEL): S.CANCELLED,
}

TERMINAL: frozenset[S] = frozenset(
    status for status in S if not any(start == status for start, _ in TRANSITIONS)
)


class IllegalTransition(Exception):
    def __init__(self, status: S, event: Event) -> None:
        self.status = status
        self.event = event
        super().__init__(f"a {status.label} proposal cannot {event.value.replace('_', ' ')}")


def next_status(status: S | str, event: Event) -> S:
    """The status after ``event``, or ``IllegalTransition`` when the table has no such step."""
    current = S(status)
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise IllegalTransition(current, event) from None
