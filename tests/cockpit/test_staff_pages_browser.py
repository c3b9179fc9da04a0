"""The pages changed for issue 10 (times in the studio's zone, good/bad diff colours, words
instead of codes) in Debian's chromium at desktop and phone widths, screenshots in .shots/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import Browser, expect

from brain.models import DriftFinding, SnapshotDiff
from connectors.runtime import redis_client
from governance.actors import Actor
from governance.services.kill_switches import kill_switch_engage
from governance.services.proposals import proposal_submit
from tests.cockpit.test_connectors_page import make_connector
from tests.factories import PASSWORD, JobRunFactory, SnapshotFactory

SHOTS = Path(__file__).resolve().parents[2] / ".shots"
WIDTHS = (1280, 390)
WINTER = dt.datetime(2026, 12, 3, 10, 18, tzinfo=dt.UTC)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


@pytest.fixture
def seeded(staff):
    studio = staff.studio
    studio.timezone = "America/New_York"
    studio.save(update_fields=["timezone"])
    staff.operator.first_name, staff.operator.last_name = "Otto", "Weber"
    staff.operator.save(update_fields=["first_name", "last_name"])
    before = SnapshotFactory(studio=studio, generated_at=WINTER - dt.timedelta(hours=4))
    after = SnapshotFactory(studio=studio, generated_at=WINTER)
    diff = SnapshotDiff.objects.create(
        studio=studio,
        previous=before,
        current=after,
        metrics={
            "counts.batchesActive": {"from": 4, "to": 6},
            "ops.highSeverityReports": {"from": 0, "to": 1},
            "ops.blockedTickets": {"from": 3, "to": 1},
        },
        records={},
    )
    DriftFinding.objects.create(
        studio=studio,
        snapshot=after,
        drifts=[
            {
                "metric": "kilnFirings",
                "expected": 9,
                "observed": 30,
                "delta": 21,
                "ratio": 2.3,
            }
        ],
        thresholds={},
        checked_at=WINTER + dt.timedelta(minutes=5),
    )
    JobRunFactory(
        name="firestore_read", studio=studio, job_id="j1", status="succeeded", started_at=WINTER
    )
    with time_machine.travel(WINTER, tick=False):
        proposal_submit(
            studio=studio,
            capability_id="firestore.ops_note.append",
            input={"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"},
            rationale="The kiln schedule changed this week",
            actor=Actor.staff(staff.operator),
        )
    kill_switch_engage(
        actor=Actor.staff(staff.operator), reason="Smoke alarm in the kiln room", studio=studio
    )
    configs = [
        make_connector(studio, "hub1"),
        make_connector(
            studio, "hub2", availability="down", error_code="UNAVAILABLE", message="no answer"
        ),
    ]
    yield diff
    for config in configs:
        redis_client().delete(f"brain:breaker:{config.instance_id}")


PAGES = [
    ("overview", "", "Firestore read"),
    ("state", "state/", "EST"),
    ("diffs", "state/diffs/", "worse"),
    ("drift", "state/drift/", "Kiln firings"),
    ("proposals", "proposals/", "Proposals"),
    ("audit", "audit/", "Otto Weber"),
    ("connectors", "connectors/", "Connector calls flowing normally"),
    ("policy", "policy/", "studio North Kiln Ceramics"),
    ("finance", "finance/", "Finance"),
]


def test_the_changed_pages_at_desktop_and_phone_width(live_server, seeded, browser: Browser):
    SHOTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        try:
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", "otto")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            for name, path, text in [
                *PAGES,
                ("diff", f"state/diffs/{seeded.pk}/", "better"),
            ]:
                page.goto(f"{live_server.url}/s/north-kiln/{path}")
                expect(page.locator("main")).to_contain_text(text)
                expect(page.locator("body")).not_to_contain_text("staff:otto")
                page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        finally:
            context.close()
