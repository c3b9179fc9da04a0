"""reconciliation_run on the mirror: the run row, flag upserts across runs, resolution by the
cloud, the stale and no-Stripe states, and a query count that does not grow with orders."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from brain.models import CloudRecord, ReconciliationFlag, ReconciliationRun, Snapshot
from brain.reconciliation.matcher import CLASSES
from brain.services.reconciliation import reconciliation_run
from brain.services.snapshots import snapshot_capture
from brain.state.demo import generate
from brain.state.sources import DemoSource
from brain.state.warnings import read_failed
from tests.brain.reconciliation.seed import READ_AT, seed_mirror, snapshot_at

pytestmark = pytest.mark.django_db

SOON = READ_AT + timedelta(hours=1)


def open_flags(studio):
    return {
        (f.order_id, f.flag_class)
        for f in ReconciliationFlag.objects.filter(studio=studio, resolved_at__isnull=True)
    }


def test_a_run_records_its_flags_counts_and_summary(studio):
    expected = seed_mirror(studio, 60)

    outcome = reconciliation_run(studio=studio, now=SOON)

    run = outcome.run
    assert run.status == ReconciliationRun.Status.COMPLETE
    assert run.run_flags == []
    assert run.stripe_read_at == READ_AT
    assert run.orders_checked == 60
    assert open_flags(studio) == set(expected.items())
    assert run.counts == {name: list(expected.values()).count(name) for name in CLASSES}
    assert run.flags_new == len(expected)
    assert {(f["order_id"], f["class"]) for f in outcome.flags} == set(expected.items())
    for week in run.summary["weeks"]:
        for money in week["money"].values():
            assert (
                money["payments_cents"] - money["refunds_cents"] - money["disputes_lost_cents"]
                == money["matched_cents"] + money["flagged_cents"] + money["remainder_cents"]
            )
    flag = ReconciliationFlag.objects.get(
        studio=studio, flag_class="amount_mismatch", order_id="ord0000002"
    )
    assert (flag.order_amount_cents, flag.stripe_amount_cents, flag.amount_cents) == (
        1200,
        1300,
        100,
    )
    assert flag.evidence == ["pi_2", "ch_2"]
    assert flag.confidence == "high"


def test_a_flag_seen_again_is_not_new_and_a_vanished_one_is_resolved_by_the_cloud(studio):
    seed_mirror(studio, 40)
    first = reconciliation_run(studio=studio, now=SOON).run
    before = {f.pk: f.first_seen_at for f in ReconciliationFlag.objects.filter(studio=studio)}

    second = reconciliation_run(studio=studio, now=SOON).run

    assert second.flags_new == 0 and second.flags_resolved == 0
    rows = list(ReconciliationFlag.objects.filter(studio=studio))
    assert {f.pk: f.first_seen_at for f in rows} == before
    assert all(f.last_run_id == second.pk and f.first_run_id == first.pk for f in rows)
    # The cloud fixes the stuck checkout: the order is cancelled.
    record = CloudRecord.objects.get(
        studio=studio, collection="materialsOrders", doc_id="ord0000001"
    )
    record.data = {**record.data, "status": "cancelled"}
    record.save()

    third = reconciliation_run(studio=studio, now=SOON).run

    assert third.flags_resolved == 1
    resolved = ReconciliationFlag.objects.get(studio=studio, order_id="ord0000001")
    assert resolved.resolved_at is not None and resolved.last_run_id == second.pk
    assert ("ord0000001", "checkout_stuck_pending") not in open_flags(studio)


def test_a_changed_flag_keeps_its_first_seen_time_and_takes_the_new_values(studio):
    seed_mirror(studio, 20)
    reconciliation_run(studio=studio, now=SOON)
    flag = ReconciliationFlag.objects.get(studio=studio, flag_class="amount_mismatch")
    record = CloudRecord.objects.get(studio=studio, collection="payment_intents", doc_id="pi_2")
    record.data = {**record.data, "amount_received": 1500}
    record.save()

    reconciliation_run(studio=studio, now=SOON)

    again = ReconciliationFlag.objects.get(pk=flag.pk)
    assert again.first_seen_at == flag.first_seen_at
    assert (again.stripe_amount_cents, again.amount_cents) == (1500, 300)


def test_a_partial_read_raises_flags_but_resolves_none(studio):
    seed_mirror(studio, 20)
    reconciliation_run(studio=studio, now=SOON)
    CloudRecord.objects.filter(studio=studio, collection="disputes").delete()
    snapshot_at(studio, READ_AT, [read_failed("stripe", "disputes", "TIMEOUT: took longer")])

    run = reconciliation_run(studio=studio, now=SOON).run

    assert run.status == ReconciliationRun.Status.PARTIAL
    assert "stripe:disputes read failed" in run.reason
    assert run.flags_resolved == 0
    assert ("ord0000006", "dispute_not_reflected") in open_flags(studio)
    stuck = ReconciliationFlag.objects.get(studio=studio, order_id="ord0000001")
    assert stuck.confidence == "low"  # an absence, on an incomplete read


def test_a_stripe_read_older_than_the_limit_flags_the_run_stale(studio, settings):
    seed_mirror(studio, 20)

    run = reconciliation_run(studio=studio, now=READ_AT + timedelta(hours=25)).run

    assert run.run_flags == ["stale_stripe_read"]
    assert run.status == ReconciliationRun.Status.COMPLETE
    assert (
        ReconciliationFlag.objects.get(studio=studio, flag_class="amount_mismatch").confidence
        == "medium"
    )
    from brain.config import replace

    settings.BRAIN = replace(settings.BRAIN, reconciliation_stale_stripe_read=timedelta(hours=48))
    assert reconciliation_run(studio=studio, now=READ_AT + timedelta(hours=25)).run.run_flags == []


def test_no_capture_means_stripe_unavailable_not_zero_discrepancies(studio):
    run = reconciliation_run(studio=studio).run
    assert run.status == ReconciliationRun.Status.STRIPE_UNAVAILABLE
    assert "no capture yet" in run.reason
    assert run.counts == dict.fromkeys(CLASSES, 0)


def test_a_capture_without_a_stripe_connector_says_so(studio):
    seed_mirror(studio, 20)
    reconciliation_run(studio=studio, now=SOON)
    CloudRecord.objects.filter(studio=studio, source="stripe").delete()
    Snapshot.objects.filter(studio=studio).delete()
    snapshot_at(
        studio,
        None,
        [
            read_failed(
                "stripe",
                "payment_intents",
                "not read: no Stripe connector is configured for this studio",
            )
        ],
    )

    run = reconciliation_run(studio=studio).run

    assert run.status == ReconciliationRun.Status.STRIPE_UNAVAILABLE
    assert "no Stripe connector is configured" in run.reason
    # No verdict: the open flags stay as they were.
    assert len(open_flags(studio)) == 5


def test_an_empty_stripe_mirror_is_unavailable(studio):
    seed_mirror(studio, 20)
    CloudRecord.objects.filter(studio=studio, source="stripe").delete()
    run = reconciliation_run(studio=studio, now=SOON).run
    assert run.status == ReconciliationRun.Status.STRIPE_UNAVAILABLE
    assert "no Stripe objects" in run.reason
    assert not ReconciliationFlag.objects.exists()


def test_the_latest_capture_failing_stripe_makes_the_run_partial(studio):
    seed_mirror(studio, 20)
    snapshot_at(
        studio, None, [read_failed("stripe", "charges", "UNAVAILABLE: cannot reach Stripe")]
    )
    run = reconciliation_run(studio=studio, now=SOON).run
    assert run.status == ReconciliationRun.Status.PARTIAL
    assert run.stripe_read_at == READ_AT
    assert "the latest capture could not read Stripe" in run.reason


def test_runs_of_other_studios_do_not_touch_a_studios_flags(studio, other_studio):
    seed_mirror(studio, 20)
    reconciliation_run(studio=studio, now=SOON)
    seed_mirror(other_studio, 0)
    reconciliation_run(studio=other_studio, now=SOON)
    assert len(open_flags(studio)) == 5


QUERIES = 10


@pytest.mark.parametrize("orders", [40, 400])
def test_the_query_count_does_not_grow_with_orders(studio, orders, django_assert_num_queries):
    seed_mirror(studio, orders)
    with django_assert_num_queries(QUERIES):
        reconciliation_run(studio=studio, now=SOON)
    # Second run: every flag seen again, nothing to insert.
    with django_assert_num_queries(QUERIES - 1):
        reconciliation_run(studio=studio, now=SOON)


def test_the_demo_clouds_planted_discrepancies_are_all_found_through_the_pipeline(studio, tmp_path):
    demo = generate(studio=studio.slug, size="small", seed=1)
    (tmp_path / "firestore.json").write_text(json.dumps(demo.firestore))
    (tmp_path / "stripe.json").write_text(json.dumps(demo.stripe))
    snapshot_capture(studio=studio, source=DemoSource(tmp_path))

    run = reconciliation_run(studio=studio).run

    assert run.status == ReconciliationRun.Status.COMPLETE
    expected = {(f["order_id"], f["class"]) for f in demo.manifest["reconciliation"]["flags"]}
    assert open_flags(studio) == expected
    assert {c for _, c in expected} == set(CLASSES)


def test_the_command_prints_one_json_document_and_exits_0(studio):
    seed_mirror(studio, 40)
    out, err = StringIO(), StringIO()

    call_command("reconcile", "--studio", studio.slug, "--json", stdout=out, stderr=err)

    document = json.loads(out.getvalue())
    assert set(document) >= {"run", "flags", "summary"}
    assert document["run"]["studio"] == studio.slug
    assert document["run"]["status"] == "complete"
    assert document["run"]["run_flags"] == ["stale_stripe_read"]  # READ_AT is days ago
    flag = next(f for f in document["flags"] if f["class"] == "refund_not_reflected")
    assert set(flag) >= {"order_id", "class", "order", "stripe", "evidence", "confidence"}
    assert flag["evidence"][0].startswith("re_")
    assert flag["order"]["amount_cents"] == flag["stripe"]["amount_cents"]
    assert set(document["summary"]) == set(CLASSES)
    assert document["summary"]["duplicate_payment"]["count"] == 2
    assert all(set(line) >= {"count", "amount_cents"} for line in document["summary"].values())


def test_the_command_reports_a_missing_stripe_read_and_still_exits_0(studio):
    out = StringIO()
    call_command("reconcile", "--studio", studio.slug, "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["run"]["status"] == "stripe_unavailable"
    assert document["flags"] == []


def test_the_command_reads_as_sentences_without_json(studio):
    seed_mirror(studio, 40)
    out = StringIO()
    call_command("reconcile", "--studio", studio.slug, stdout=out)
    text = out.getvalue()
    assert text.startswith("run ") and f"for {studio.slug}: complete" in text
    assert "flag on the run: stale_stripe_read" in text
    assert "duplicate_payment: 2 (" in text
