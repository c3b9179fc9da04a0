"""Submit by CLI, approve in the browser, execute, watch it executed through a real worker
against the Firestore peer, and open the rollback it offers. Screenshots in tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from brain.models import Role
from governance.models import Execution
from tests.cockpit.test_governance_browser import cli_submit, shot, sign_in
from tests.conftest import mirror_batches
from tests.factories import MembershipFactory, StudioFactory, UserFactory
from tests.governance.pilots import firestore_pilot, writes

SHOTS = Path(__file__).resolve().parent.parent.parent / ".shots"

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_approved_note_is_executed_from_the_browser_and_offers_its_rollback(
    live_server, page: Page, settings, firestore_peer, celery_worker
):
    studio = StudioFactory(slug="north-kiln", name="North Kiln Ceramics")
    mirror_batches(studio)  # the batches the proposals name
    for username, role in (("otto", Role.OPERATOR), ("anna", Role.APPROVER)):
        MembershipFactory(user=UserFactory(username=username), studio=studio, role=role)
    firestore_pilot(studio)
    base = live_server.url

    note = cli_submit(
        "firestore.ops_note.append",
        {"batch_id": "batch-42", "note": "Bisque moved to kiln 2 on Thursday"},
        "Kiln one is down for repairs",
        "otto",
    )
    sign_in(page, base, "anna")
    page.goto(f"{base}/s/north-kiln/proposals/{note['id']}/")
    expect(page.locator("#dry-run")).to_contain_text("Create studioBrainPilotOpsNotes/")
    page.fill("#approve_rationale", "Kiln 2 has room on Thursday")
    page.click("#decision button:has-text('Approve')")
    expect(page.locator(".page-head .status")).to_have_text(re.compile("^approved$", re.I))
    shot(page, "execution-approved")

    # Writes are still off on this runtime: no Execute button, and the gateway's own reason
    # in words instead.
    expect(page.locator("#execution")).to_contain_text("Cannot execute yet.")
    expect(page.locator("#execution")).to_contain_text("External writes are off on this runtime")
    expect(page.locator("#execution button")).to_have_count(0)
    shot(page, "execution-cannot-execute")

    writes(settings)
    page.reload()
    page.click("#execution button:has-text('Execute')")
    expect(page.locator("#execution")).to_contain_text("✓ Executed", timeout=20_000)
    expect(page.locator(".page-head .status")).to_have_text(re.compile("^executed$", re.I))
    shot(page, "execution-executed")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "detail-executed-1280.png"), full_page=True)

    execution = Execution.objects.get(proposal_id=note["id"])
    assert execution.status == "succeeded"
    assert firestore_peer.document_count() == 2

    # The audit trail on the page was brought up to date with the outcome, without a reload.
    expect(page.locator("#audit-trail")).to_contain_text("execution.succeeded")
    expect(page.locator("#audit-trail")).to_contain_text("Verified: 4 events")
    page.click("#execution a:has-text('Propose the rollback')")
    expect(page.locator("h1")).to_have_text(f"Roll back #{note['id']}")
    # The rollback is pre-filled into the generated form's fields, shown in the JSON preview.
    note_id = f"{note['id']}__{execution.idempotency_key}"
    expect(page.get_by_label("Ops note")).to_have_value(note_id)
    expect(page.locator("#proposal-preview")).to_contain_text(note_id)
    shot(page, "execution-rollback-form")
    page.click("button:has-text('Submit for approval')")
    expect(page.locator(".page-head h1")).to_contain_text("Roll back ops note")
    shot(page, "execution-rollback-proposal")
