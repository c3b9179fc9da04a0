"""Every timestamp on a staff page is the studio's wall-clock time with its real zone
abbreviation, inside a <time> whose datetime carries UTC (a New York studio sees
"05:18 EST" for 10:18 UTC, never "05:18 UTC")."""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from pathlib import Path

import pytest
import time_machine
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from brain.models import DriftFinding
from brain.services.snapshots import snapshot_capture
from brain.state.demo import generate
from brain.state.sources import DemoSource
from governance.actors import Actor
from governance.models import AuditEvent
from governance.services.proposals import proposal_submit
from tests.factories import JobRunFactory

pytestmark = pytest.mark.django_db

WINTER = dt.datetime(2026, 12, 3, 10, 18, tzinfo=dt.UTC)  # New York on EST (UTC-5)
SUMMER = dt.datetime(2026, 7, 1, 14, 5, 9, tzinfo=dt.UTC)  # New York on EDT (UTC-4)
WINTER_TIME = '<time datetime="2026-12-03T10:18:00+00:00" title="2026-12-03 10:18 UTC">'
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "cockpit"


def render(source: str, **context) -> str:
    return Template("{% load cockpit_format %}" + source).render(Context(context))


def test_the_filter_prints_the_zone_abbreviation_in_winter_and_in_summer():
    with timezone.override("America/New_York"):
        winter = render("{{ t|studio_time }}", t=WINTER)
        summer = render('{{ t|studio_time:"seconds" }}', t=SUMMER)
    assert winter == f"{WINTER_TIME}2026-12-03 05:18 EST</time>"
    assert summer == (
        '<time datetime="2026-07-01T14:05:09+00:00" title="2026-07-01 14:05:09 UTC">'
        "2026-07-01 10:05:09 EDT</time>"
    )


def test_the_filter_in_a_utc_studio_says_utc_and_leaves_an_empty_value_empty():
    with timezone.override("UTC"):
        assert render("{{ t|studio_time }}", t=WINTER).endswith(">2026-12-03 10:18 UTC</time>")
        assert render("{{ t|studio_time }}", t=None) == ""


def test_the_age_form_is_a_duration_with_the_studio_time_on_hover():
    later = WINTER + dt.timedelta(hours=3)
    with time_machine.travel(later, tick=False), timezone.override("America/New_York"):
        age = render('{{ t|studio_time:"age" }}', t=WINTER)
    assert age == (
        '<time datetime="2026-12-03T10:18:00+00:00" title="2026-12-03 05:18 EST">3\xa0hours</time>'
    )


def test_no_cockpit_template_formats_a_time_itself():
    """Every time goes through ``studio_time``: no ``|date`` with hours, no ``|timezone:``,
    no hand-written "UTC" label."""
    offenders = []
    for path in sorted(TEMPLATES.glob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if (
                re.search(r"\|date:[\"'][^\"']*[HGgh]", line)
                or "|timezone:" in line
                or (re.search(r"\bUTC\b", line))
            ):
                offenders.append(f"{path.name}:{number}: {line.strip()[:100]}")
    assert offenders == []


@pytest.fixture
def new_york(staff):
    staff.studio.timezone = "America/New_York"
    staff.studio.save(update_fields=["timezone"])
    return staff


@pytest.fixture
def captured(new_york, tmp_path):
    demo = generate(studio=new_york.studio.slug, size="small", seed=1)
    (tmp_path / "firestore.json").write_text(json.dumps(demo.firestore))
    (tmp_path / "stripe.json").write_text(json.dumps(demo.stripe))
    with time_machine.travel(WINTER - dt.timedelta(hours=1), tick=False):
        snapshot_capture(studio=new_york.studio, source=DemoSource(tmp_path))
    with time_machine.travel(WINTER, tick=False):
        return snapshot_capture(studio=new_york.studio, source=DemoSource(tmp_path)).snapshot


def page(client, name, staff, *args):
    response = client.get(reverse(name, args=[staff.studio.slug, *args]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_state_page_shows_new_york_time(new_york, captured, login):
    body = page(login(new_york.viewer), "cockpit:state", new_york)
    assert f"{WINTER_TIME}2026-12-03 05:18 EST</time>" in body
    assert "05:18 UTC" not in body and "10:18 UTC</" not in body


def test_the_diffs_and_a_diff_show_new_york_time(new_york, captured, login):
    client = login(new_york.viewer)
    diffs = page(client, "cockpit:state-diffs", new_york)
    assert f"{WINTER_TIME}2026-12-03 05:18 EST</time>" in diffs
    detail = page(client, "cockpit:state-diff", new_york, captured.diff.pk)
    assert f"{WINTER_TIME}2026-12-03 05:18 EST</time>" in detail
    assert ">2026-12-03 04:18 EST</time>" in detail  # the previous snapshot, an hour before


def test_the_drift_page_shows_new_york_time(new_york, captured, login):
    DriftFinding.objects.create(
        studio=new_york.studio,
        snapshot=captured,
        drifts=[{"metric": "reservations", "expected": 9, "observed": 90, "delta": 81}],
        thresholds={},
        checked_at=SUMMER,
    )
    body = page(login(new_york.viewer), "cockpit:state-drift", new_york)
    assert ">2026-07-01 10:05 EDT</time>" in body
    assert f"{WINTER_TIME}2026-12-03 05:18 EST</time>" in body


def test_the_queue_age_tooltip_and_the_audit_page_show_new_york_time(new_york, login):
    with time_machine.travel(WINTER, tick=False):
        proposal_submit(
            studio=new_york.studio,
            capability_id="firestore.ops_note.append",
            input={"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"},
            rationale="The kiln schedule changed this week",
            actor=Actor.staff(new_york.operator),
        )
    client = login(new_york.viewer)
    queue = page(client, "cockpit:proposals", new_york)
    assert '<time datetime="2026-12-03T10:18:00+00:00" title="2026-12-03 05:18 EST">' in queue
    # The audit chain stamps events with the database clock: read the stamp it wrote.
    occurred = AuditEvent.objects.get(studio=new_york.studio).occurred_at
    local = occurred.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    audit = page(client, "cockpit:audit", new_york)
    assert f'<time datetime="{occurred.replace(microsecond=0).isoformat()}"' in audit
    assert f">{local:%Y-%m-%d %H:%M:%S} {local.tzname()}</time>" in audit


def test_the_overview_shows_job_runs_in_new_york_time(new_york, login):
    JobRunFactory(
        name="firestore_read",
        studio=new_york.studio,
        job_id="j1",
        status="succeeded",
        started_at=SUMMER,
        finished_at=SUMMER,
    )
    body = page(login(new_york.viewer), "cockpit:overview", new_york)
    assert ">2026-07-01 10:05 EDT</time>" in body
