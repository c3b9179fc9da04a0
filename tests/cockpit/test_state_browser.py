"""The State pages in Debian's chromium: latest snapshot (empty, normal, stale, partial with
warnings), Diffs (timeline and one diff's record changes) and Drift (empty and with a
finding). Screenshots land in tests/artifacts/state-*.png for a person to look at."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from brain.config import replace
from brain.models import Snapshot
from brain.services.snapshots import drift_check, snapshot_capture
from brain.state.demo import generate
from brain.state.sources import DemoSource
from tests.cockpit.test_browser import console, shot, sign_in  # noqa: F401 (fixture)
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


def write_demo(directory, mutate=None):
    demo = generate(studio="north-kiln", size="small", seed=1)
    if mutate:
        mutate(demo)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "firestore.json").write_text(json.dumps(demo.firestore))
    (directory / "stripe.json").write_text(json.dumps(demo.stripe))
    return demo


def close_batches_and_add_reservations(demo):
    closed = 0
    for doc in demo.firestore["documents"]:
        name = doc["name"]
        if name.startswith("batches/") and name.count("/") == 1 and closed < 3:
            state = doc["fields"].get("state", {}).get("stringValue", "")
            if not state.startswith("CLOSED_"):
                doc["fields"]["state"] = {"stringValue": "CLOSED_PICKED_UP"}
                closed += 1
    demo.firestore["documents"] = [
        d for d in demo.firestore["documents"] if d["name"] != "reservations/res000004"
    ]
    for index in range(40):
        demo.firestore["documents"].append(
            {
                "name": f"reservations/walkin{index:03d}",
                "fields": {"status": {"stringValue": "BOOKED"}},
                "createTime": "2026-11-20T10:00:00Z",
                "updateTime": "2026-11-20T10:00:00Z",
            }
        )


def test_state_pages_in_every_state(live_server, staff, page: Page, console, tmp_path, settings):  # noqa: F811
    base = f"{live_server.url}/s/north-kiln/state"
    studio = staff.studio
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "otto", PASSWORD)

    # Empty: no snapshot, no diffs, no drift.
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="No snapshot yet")).to_be_visible()
    expect(page.get_by_role("button", name="Capture now")).to_be_visible()
    shot(page, "state-empty.png")
    page.goto(f"{base}/diffs/")
    expect(page.get_by_role("heading", name="No diffs yet")).to_be_visible()
    page.goto(f"{base}/drift/")
    expect(page.get_by_role("heading", name="No drift found")).to_be_visible()
    shot(page, "state-drift-empty.png")

    # Normal: a full snapshot from the demo cloud.
    write_demo(tmp_path)
    first = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    page.goto(f"{base}/")
    expect(page.get_by_text("Derived from cloud", exact=True)).to_be_visible()
    expect(page.get_by_text("full", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Finance")).to_be_visible()
    expect(page.locator(".banner-warn")).to_have_count(0)
    shot(page, "state-normal.png")

    # Diffs: the cloud changed; the timeline and one diff's record changes.
    write_demo(tmp_path, mutate=close_batches_and_add_reservations)
    changed = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    page.goto(f"{base}/diffs/")
    expect(page.locator("ol.timeline > li")).to_have_count(2)
    expect(page.locator('[title="counts.batchesActive"]').first).to_be_visible()
    shot(page, "state-diffs.png")
    page.get_by_role("link", name="Record changes").first.click()
    expect(page.get_by_role("heading", name="Records")).to_be_visible()
    expect(page.get_by_text("firestore:reservations")).to_be_visible()
    expect(page.get_by_text("res000004")).to_be_visible()
    shot(page, "state-diff-detail.png")
    assert changed.pk != first.pk

    # Drift: the cloud now has many more reservations than the snapshot counted.
    def more_reservations(demo):
        close_batches_and_add_reservations(demo)
        for index in range(30):
            demo.firestore["documents"].append(
                {
                    "name": f"reservations/late{index:03d}",
                    "fields": {},
                    "createTime": "2026-11-21T10:00:00Z",
                    "updateTime": "2026-11-21T10:00:00Z",
                }
            )

    write_demo(tmp_path, mutate=more_reservations)
    assert drift_check(studio=studio, source=DemoSource(tmp_path)) is not None
    page.goto(f"{base}/drift/")
    expect(page.get_by_text("Reservations", exact=True)).to_be_visible()
    shot(page, "state-drift.png")

    # Partial with warnings: the drift above, plus a capture stopped at the scan limit.
    settings.BRAIN = replace(settings.BRAIN, scan_limit=50)
    partial = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot
    assert partial.completeness == "partial"
    page.goto(f"{base}/")
    expect(page.get_by_text("partial", exact=True)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Warnings")).to_be_visible()
    shot(page, "state-partial.png")

    # Stale: the latest snapshot is older than the freshness limit.
    old = timezone.now() - settings.BRAIN.snapshot_max_age - timedelta(minutes=5)
    Snapshot.objects.filter(studio=studio).update(generated_at=old)
    page.goto(f"{base}/")
    expect(page.locator(".banner-warn")).to_contain_text("Stale")
    shot(page, "state-stale.png")

    # Narrow screens keep every figure readable, without scrolling sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (
        ("/", "state-narrow.png"),
        (f"/diffs/{changed.diff.pk}/", "state-diff-detail-narrow.png"),
        ("/drift/", "state-drift-narrow.png"),
    ):
        page.goto(f"{base}{path}")
        wide = page.evaluate(
            "() => [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)"
            ".map(e => e.tagName + '.' + e.className)"
        )
        assert wide == [], (path, wide)
        shot(page, name)
