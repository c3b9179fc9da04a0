import pytest

from brain.state import rules

MISSING = object()


def doc(field, value):
    return {} if value is MISSING else {field: value}


@pytest.mark.parametrize(
    ("state", "closed"),
    [
        ("CLOSED_FIRED", True),
        ("CLOSED_", True),
        ("closed_fired", False),
        ("OPEN", False),
        (MISSING, False),
        (None, False),
        (7, False),
        (["CLOSED_X"], False),
        (" CLOSED_X", False),
    ],
)
def test_batch_is_closed_only_for_strings_starting_CLOSED_(state, closed):
    assert rules.batch_is_closed(doc("state", state)) is closed


@pytest.mark.parametrize(
    ("status", "is_open"),
    [
        ("CANCELLED", False),
        ("cancelled", False),
        ("Completed", False),
        ("DECLINED", False),
        ("closed", False),
        ("BOOKED", True),
        ("pending", True),
        (MISSING, True),
        (None, True),
        (3, True),
    ],
)
def test_reservation_is_open_unless_terminal_in_any_case(status, is_open):
    assert rules.reservation_is_open(doc("status", status)) is is_open


@pytest.mark.parametrize(
    ("status", "scheduled"),
    [
        ("queued", True),
        ("SCHEDULED", True),
        ("Loaded", True),
        ("firing", True),
        ("COOLING", True),
        ("ready", True),
        ("done", False),
        ("cancelled", False),
        (MISSING, False),
        (None, False),
        (1, False),
    ],
)
def test_firing_is_scheduled_for_the_six_states_in_any_case(status, scheduled):
    assert rules.firing_is_scheduled(doc("status", status)) is scheduled


@pytest.mark.parametrize(
    ("status", "is_open"),
    [
        ("open", True),
        ("TRIAGED", True),
        ("Actioned", True),
        (MISSING, True),
        (None, True),
        ("resolved", False),
        ("dismissed", False),
        (5, False),
    ],
)
def test_report_is_open_including_missing_status(status, is_open):
    assert rules.report_is_open(doc("status", status)) is is_open


@pytest.mark.parametrize(
    ("severity", "high"),
    [
        ("high", True),
        ("HIGH", True),
        ("High", True),
        ("medium", False),
        (MISSING, False),
        (None, False),
        (3, False),
    ],
)
def test_high_severity_whatever_the_status(severity, high):
    report = {"status": "resolved", **doc("severity", severity)}
    assert rules.report_is_high_severity(report) is high


@pytest.mark.parametrize(
    ("blocked", "counts"),
    [(True, True), ("true", False), (1, False), (False, False), (MISSING, False), (None, False)],
)
def test_only_boolean_true_blocks_a_ticket(blocked, counts):
    assert rules.ticket_is_blocked(doc("blocked", blocked)) is counts


@pytest.mark.parametrize(
    ("status", "pending"),
    [
        ("pending", True),
        ("NEEDS_REVIEW", True),
        ("awaiting_payment", True),
        (MISSING, True),
        (None, True),
        ("done", False),
        ("rejected", False),
        (0, False),
    ],
)
def test_agent_request_pending_including_missing_status(status, pending):
    assert rules.agent_request_is_pending(doc("status", status)) is pending


@pytest.mark.parametrize(
    ("status", "pending", "paid"),
    [
        ("checkout_pending", True, False),
        ("PAID", False, True),
        ("cancelled", False, False),
        ("Fulfilled", False, True),
        ("completed", False, True),
        (MISSING, True, False),
        (None, True, False),
    ],
)
def test_order_pending_and_paid(status, pending, paid):
    order = doc("status", status)
    assert rules.order_is_pending(order) is pending
    assert rules.order_is_paid(order) is paid
