"""A diff's colour says good or bad, not up or down: each metric declares whether up is
good, and the page says it in words too (not colour alone)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from brain.models import SnapshotDiff
from brain.state.snapshot import metrics_of
from cockpit.views.state import METRICS, metric_changes
from tests.factories import SnapshotFactory

pytestmark = pytest.mark.django_db


def test_every_snapshot_metric_declares_whether_up_is_good():
    content = {
        "counts": dict.fromkeys(
            [
                "batchesActive",
                "batchesClosed",
                "reservationsOpen",
                "firingsScheduled",
                "reportsOpen",
            ],
            0,
        ),
        "ops": dict.fromkeys(["blockedTickets", "agentRequestsPending", "highSeverityReports"], 0),
        "finance": dict.fromkeys(["pendingOrders", "unsettledPayments"], 0),
    }
    assert set(metrics_of(content)) == set(METRICS)
    for metric in METRICS.values():
        assert metric.up_is_good in (True, False, None), metric


def test_more_high_severity_reports_is_worse_and_fewer_is_better():
    neutral, better, worse = metric_changes(
        {
            "ops.highSeverityReports": {"from": 0, "to": 1},
            "ops.blockedTickets": {"from": 3, "to": 1},
            "counts.batchesActive": {"from": 4, "to": 6},
        }
    )
    assert (better["metric"], better["verdict"], better["verdict_text"]) == (
        "ops.blockedTickets",
        "good",
        "better",
    )
    assert (neutral["metric"], neutral["verdict"]) == ("counts.batchesActive", "neutral")
    assert (worse["metric"], worse["verdict"], worse["verdict_text"]) == (
        "ops.highSeverityReports",
        "bad",
        "worse",
    )


def test_a_diff_page_says_worse_in_words_for_a_new_high_severity_report(staff, login):
    before = SnapshotFactory(studio=staff.studio)
    after = SnapshotFactory(studio=staff.studio)
    diff = SnapshotDiff.objects.create(
        studio=staff.studio,
        previous=before,
        current=after,
        metrics={
            "ops.highSeverityReports": {"from": 0, "to": 1},
            "ops.blockedTickets": {"from": 2, "to": 0},
        },
        records={},
    )
    client = login(staff.viewer)
    for url in (
        reverse("cockpit:state-diff", args=[staff.studio.slug, diff.pk]),
        reverse("cockpit:state-diffs", args=[staff.studio.slug]),
    ):
        body = client.get(url).content.decode()
        row = body[body.index("High-severity reports") :].split("</tr>")[0]
        assert 'class="change change-bad"' in row and "worse" in row
        assert 'class="up"' not in body  # the old direction-only colour
        row = body[body.index("Blocked tickets") :].split("</tr>")[0]
        assert 'class="change change-good"' in row and "better" in row
