import json

import pytest
from django.urls import reverse
from django.utils import timezone

from brain.models import JobRun
from brain.services.snapshots import snapshot_capture
from brain.state.demo import generate
from brain.state.sources import DemoSource
from brain.state.warnings import drift, read_failed, scan_limit
from tests.factories import JobRunFactory

pytestmark = pytest.mark.django_db

PAGES = ["cockpit:state", "cockpit:state-diffs", "cockpit:state-drift"]


@pytest.fixture
def captured(staff, tmp_path):
    demo = generate(studio=staff.studio.slug, size="small", seed=1)
    (tmp_path / "firestore.json").write_text(json.dumps(demo.firestore))
    (tmp_path / "stripe.json").write_text(json.dumps(demo.stripe))
    snapshot_capture(studio=staff.studio, source=DemoSource(tmp_path))
    return snapshot_capture(studio=staff.studio, source=DemoSource(tmp_path)).snapshot


@pytest.mark.parametrize("name", PAGES)
def test_state_pages_show_their_empty_state(staff, login, name):
    response = login(staff.viewer).get(reverse(name, args=[staff.studio.slug]))
    assert response.status_code == 200
    assert b"Derived from cloud" in response.content
    assert (
        b"No snapshot yet" in response.content
        or b"No diffs yet" in response.content
        or b"No drift found" in response.content
    )


@pytest.mark.parametrize("name", PAGES)
def test_state_pages_are_hidden_from_other_studios_and_anonymous(staff, login, client, name):
    url = reverse(name, args=[staff.studio.slug])
    assert login(staff.outsider).get(url).status_code == 404
    assert client.get(url).status_code == 302
    assert login(staff.viewer).post(url).status_code == 405


def test_state_page_shows_the_latest_snapshot_with_read_times(
    staff, login, captured, django_assert_max_num_queries
):
    client = login(staff.viewer)
    url = reverse("cockpit:state", args=[staff.studio.slug])
    with django_assert_max_num_queries(10):  # includes the kill-switch banner query
        response = client.get(url)
    body = response.content.decode()
    assert "Active batches" in body and str(captured.content["counts"]["batchesActive"]) in body
    assert "Firestore read" in body and "Stripe read" in body
    assert "demo data" in body
    assert "Capture now" not in body  # viewers cannot capture


def test_state_page_lists_each_warning_by_collection_with_its_code_on_hover(staff, login, captured):
    warnings = [
        scan_limit("firestore", "batches", 50),
        read_failed("stripe", "refunds", "UNAVAILABLE: Stripe answered HTTP 500"),
    ]
    captured.content["diagnostics"]["warnings"] = warnings
    captured.save(update_fields=["content"])

    body = login(staff.viewer).get(reverse("cockpit:state", args=[staff.studio.slug]))
    text = body.content.decode()

    # The code is on hover; staff read the collection and what happened to it.
    assert (
        '<strong title="Warning code SCAN_LIMIT">Firestore batches</strong>: '
        "stopped at the scan limit after 50"
    ) in text
    assert (
        '<strong title="Warning code READ_FAILED">Stripe refunds</strong>: '
        "UNAVAILABLE: Stripe answered HTTP 500"
    ) in text


def test_diff_detail_is_scoped_to_the_studio(staff, login, captured):
    url = reverse("cockpit:state-diff", args=[staff.studio.slug, captured.diff.pk])
    assert login(staff.viewer).get(url).status_code == 200
    other = reverse("cockpit:state-diff", args=[staff.other_studio.slug, captured.diff.pk])
    assert login(staff.outsider).get(other).status_code == 404


def test_capture_needs_the_operator_role(staff, login):
    url = reverse("cockpit:state-capture", args=[staff.studio.slug])
    response = login(staff.viewer).post(url)
    assert response.status_code == 403
    assert b"operator" in response.content


def test_capture_queues_a_task_and_the_htmx_fragment_polls_for_it(staff, login):
    url = reverse("cockpit:state-capture", args=[staff.studio.slug])
    response = login(staff.operator).post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert "Capture queued" in body and 'hx-trigger="every 2s"' in body


def test_capture_without_htmx_redirects_back_with_a_message(staff, login):
    url = reverse("cockpit:state-capture", args=[staff.studio.slug])
    response = login(staff.operator).post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("cockpit:state", args=[staff.studio.slug])
    assert b"Capture queued" in response.content


def test_capture_progress_refreshes_the_page_when_the_job_finished(staff, login):
    url = reverse("cockpit:state-capture-progress", args=[staff.studio.slug, "task-123"])
    client = login(staff.operator)
    assert "waiting for a worker" in client.get(url, HTTP_HX_REQUEST="true").content.decode()
    JobRunFactory(
        name="studio_state.capture",
        studio=staff.studio,
        job_id="task-123",
        status=JobRun.Status.SUCCEEDED,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.headers.get("HX-Refresh") == "true"


def test_capture_reports_an_unreachable_queue_without_a_500(staff, login, settings):
    from studio_brain.celery import app

    def reset_pools():
        # Drop the app's cached pools (kombu keeps one per broker URL; closing would poison it).
        app._pool = None
        app.amqp._producer_pool = None

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    reset_pools()
    try:
        response = login(staff.operator).post(
            reverse("cockpit:state-capture", args=[staff.studio.slug]), HTTP_HX_REQUEST="true"
        )
    finally:
        app.conf.broker_url = original
        reset_pools()
    assert response.status_code == 200
    assert b"unreachable" in response.content


def test_diff_metrics_are_shown_in_page_order_with_labels_and_signed_changes():
    from cockpit.views.state import metric_changes

    rows = metric_changes(
        {
            "finance.unsettledPayments": {"from": 3, "to": 1},
            "counts.batchesActive": {"from": 10, "to": 12},
            "ops.custom": {"from": None, "to": 4},
        }
    )

    assert [r["metric"] for r in rows] == [
        "counts.batchesActive",
        "finance.unsettledPayments",
        "ops.custom",
    ]
    assert [r["delta"] for r in rows] == [2, -2, None]
    assert rows[0]["label"] == "Active batches"


def test_documents_read_puts_subcollections_under_their_parent_and_marks_problems():
    from cockpit.views.state import documents_read

    content = {
        "diagnostics": {
            "documents_scanned": {
                "stripe:refunds": 0,
                "firestore:reservations": 9,
                "firestore:batches/*/pieces": 50,
                "firestore:batches": 50,
            },
            "warnings": [
                scan_limit("firestore", "batches", 50),
                read_failed("stripe", "refunds", "UNAVAILABLE: Stripe answered HTTP 500"),
                drift("reservations", 9, 90),
            ],
        }
    }

    firestore, stripe = documents_read(content)

    assert [(r["name"], r["sub"], r["problem"]) for r in firestore["rows"]] == [
        ("batches", False, "scan limit"),
        ("batches/*/pieces", True, ""),
        ("reservations", False, ""),
    ]
    assert stripe["rows"] == [{"name": "refunds", "count": 0, "sub": False, "problem": "failed"}]
