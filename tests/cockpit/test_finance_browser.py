"""Screenshots of the Finance page in its states at desktop and phone widths, through
Debian's chromium (saved under tests/artifacts/ and looked at by a person)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from brain.services.reconciliation import reconciliation_run
from brain.state.warnings import read_failed
from tests.brain.reconciliation.seed import READ_AT, propose_adjustment, seed_mirror, snapshot_at
from tests.cockpit.browser import sign_in

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDTHS = (1280, 390)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(live_server, page, staff):
    return sign_in(page, live_server.url, "otto")


def shoot(page, live_server, name: str) -> list[str]:
    ARTIFACTS.mkdir(exist_ok=True)
    texts = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/s/north-kiln/finance/")
        page.screenshot(path=str(ARTIFACTS / f"finance-{name}-{width}.png"), full_page=True)
        # Nothing wider than the viewport: tables scroll inside their wrapper.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width}px overflows by {overflow}px"
        texts.append(page.inner_text("main"))
    return texts


def test_finance_empty(signed_in, live_server):
    for text in shoot(signed_in, live_server, "empty"):
        assert "No reconciliation yet" in text


def test_finance_with_flags(signed_in, live_server, staff):
    seed_mirror(staff.studio, 40)
    reconciliation_run(studio=staff.studio, now=READ_AT + timedelta(hours=1))
    for text in shoot(signed_in, live_server, "flags"):
        assert "Amount differs from Stripe" in text


def test_finance_stale(signed_in, live_server, staff):
    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=READ_AT + timedelta(hours=25))
    for text in shoot(signed_in, live_server, "stale"):
        assert "Stale Stripe read" in text


def test_finance_no_stripe(signed_in, live_server, staff):
    snapshot_at(
        staff.studio,
        None,
        [read_failed("stripe", "payment_intents", "not read: no Stripe connector is configured")],
    )
    reconciliation_run(studio=staff.studio)
    for text in shoot(signed_in, live_server, "no-stripe"):
        assert "Stripe could not be read" in text


def test_finance_partial(signed_in, live_server, staff):
    from brain.models import CloudRecord, Snapshot

    seed_mirror(staff.studio, 20)
    CloudRecord.objects.filter(studio=staff.studio, collection="disputes").delete()
    Snapshot.objects.filter(studio=staff.studio).delete()
    snapshot_at(staff.studio, READ_AT, [read_failed("stripe", "disputes", "TIMEOUT: slow")])
    reconciliation_run(studio=staff.studio, now=READ_AT + timedelta(hours=1))
    for text in shoot(signed_in, live_server, "partial"):
        assert "Partial run" in text
        assert "Amount differs from Stripe" in text  # flags are still raised and shown


def test_finance_adjustment_proposed(signed_in, live_server, staff):
    from brain.models import ReconciliationFlag

    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=READ_AT + timedelta(hours=1))
    propose_adjustment(
        staff, ReconciliationFlag.objects.get(studio=staff.studio, flag_class="amount_mismatch")
    )
    for text in shoot(signed_in, live_server, "adjusting"):
        assert "is pending approval" in text
