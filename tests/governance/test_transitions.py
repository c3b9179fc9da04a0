import itertools

import pytest

from governance.enums import ProposalStatus as S
from governance.transitions import TERMINAL, TRANSITIONS, Event, IllegalTransition, next_status

LEGAL = {
    (S.DRAFT, Event.SUBMIT): S.PENDING_APPROVAL,
    (S.PENDING_APPROVAL, Event.VOTE): S.PENDING_APPROVAL,
    (S.PENDING_APPROVAL, Event.APPROVE): S.APPROVED,
    (S.PENDING_APPROVAL, Event.REJECT): S.REJECTED,
    (S.PENDING_APPROVAL, Event.EXPIRE): S.EXPIRED,
    (S.APPROVED, Event.EXPIRE): S.EXPIRED,
    (S.REJECTED, Event.REOPEN): S.PENDING_APPROVAL,
    (S.APPROVED, Event.EXECUTE_SUCCEED): S.EXECUTED,
    (S.APPROVED, Event.EXECUTE_FAIL): S.FAILED,
    (S.PENDING_APPROVAL, Event.EXECUTE_SUCCEED): S.EXECUTED,  # under an exemption
    (S.PENDING_APPROVAL, Event.EXECUTE_FAIL): S.FAILED,
    (S.PENDING_APPROVAL, Event.WITHDRAW): S.PENDING_APPROVAL,
    (S.APPROVED, Event.WITHDRAW): S.PENDING_APPROVAL,  # below the quorum again
    (S.DRAFT, Event.CANCEL): S.CANCELLED,
    (S.PENDING_APPROVAL, Event.CANCEL): S.CANCELLED,
    (S.APPROVED, Event.CANCEL): S.CANCELLED,
}


@pytest.mark.parametrize(("start", "event"), list(LEGAL))
def test_every_legal_transition_lands_where_the_lifecycle_says(start, event):
    assert next_status(start, event) == LEGAL[(start, event)]


ILLEGAL = [pair for pair in itertools.product(S, Event) if pair not in LEGAL]


@pytest.mark.parametrize(("start", "event"), ILLEGAL)
def test_every_other_pair_is_an_illegal_transition(start, event):
    with pytest.raises(IllegalTransition):
        next_status(start, event)


def test_the_table_holds_exactly_the_lifecycle():
    assert TRANSITIONS == LEGAL
    assert {S.EXPIRED, S.EXECUTED, S.FAILED, S.CANCELLED} == TERMINAL
