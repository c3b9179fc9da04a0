"""Cockpit → Finance: every state, permissions, isolation, HTMX fragment, Reconcile now,
and a query count that does not grow with the number of flags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from brain.models import CloudRecord, ReconciliationRun, Snapshot
from brain.services.reconciliation import reconciliation_run
from brain.state.warnings import read_failed
from cockpit.finance import money, stripe_dashboard_url
from studio_brain.celery import app as celery_app
from tests.brain.reconciliation.seed import READ_AT, propose_adjustment, seed_mirror, snapshot_at
from tests.brain.test_task_routes import routed_queue

pytestmark = pytest.mark.django_db

SOON = READ_AT + timedelta(hours=1)


def page(studio="north-kiln"):
    return reverse("cockpit:finance", args=[studio])


def reconcile_url(studio="north-kiln"):
    return reverse("cockpit:finance_reconcile", args=[studio])


def test_money_and_dashboard_links_read_as_staff_expect():
    assert money(123456, "gbp") == "1,234.56 GBP"
    assert money(-50, "eur") == "-0.50 EUR"
    assert money(None, "gbp") == "—"
    assert stripe_dashboard_url("pi_1") == "https://dashboard.stripe.com/payments/pi_1"
    assert stripe_dashboard_url("re_9") == "https://dashboard.stripe.com/refunds/re_9"
    assert stripe_dashboard_url("dp_9") == "https://dashboard.stripe.com/disputes/dp_9"
    assert (
        stripe_dashboard_url("cs_test_a1")
        == "https://dashboard.stripe.com/test/checkout/sessions/cs_test_a1"
    )
    assert stripe_dashboard_url("ord_1") is None


def test_the_page_refuses_post(staff, login):
    assert login(staff.viewer).post(page()).status_code == 405


def test_reconcile_now_refuses_get(staff, login):
    assert login(staff.operator).get(reconcile_url()).status_code == 405


def test_an_outsider_gets_404(staff, login):
    assert login(staff.outsider).get(page()).status_code == 404


def test_a_viewer_sees_the_page_but_cannot_reconcile(staff, login):
    client = login(staff.viewer)
    response = client.get(page())
    assert response.status_code == 200
    assert "Reconcile now" not in response.content.decode()
    assert client.post(reconcile_url()).status_code == 403


def test_no_run_yet_says_so_and_what_to_do(staff, login):
    html = login(staff.operator).get(page()).content.decode()
    assert "No reconciliation yet" in html
    assert "Reconcile now" in html
    assert 'aria-current="page">Finance' in html


def test_flags_are_grouped_by_class_with_evidence_and_links(staff, login):
    seed_mirror(staff.studio, 40)
    reconciliation_run(studio=staff.studio, now=SOON)

    html = login(staff.viewer).get(page()).content.decode()

    assert "Amount differs from Stripe" in html
    assert 'title="amount_mismatch"' in html
    assert "Checkout stuck pending" in html
    assert "https://dashboard.stripe.com/payments/pi_2" in html
    assert "ord0000002" in html
    assert "GBP" in html or "EUR" in html or "USD" in html
    assert "Every cent labelled" in html
    assert "No open flags" not in html


def test_a_clean_run_says_there_is_nothing_to_do(staff, login):
    seed_mirror(staff.studio, 40)
    reconciliation_run(studio=staff.studio, now=SOON)
    from brain.models import ReconciliationFlag

    ReconciliationFlag.objects.filter(studio=staff.studio).update(resolved_at=SOON)

    html = login(staff.viewer).get(page()).content.decode()
    assert "No open flags" in html


def test_a_stale_stripe_read_shows_a_warning_with_its_age(staff, login):
    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=READ_AT + timedelta(hours=25))

    html = login(staff.viewer).get(page()).content.decode()
    assert "Stale Stripe read" in html
    assert "ago" in html


def test_no_stripe_connector_says_why_and_links_to_connectors(staff, login):
    snapshot_at(
        staff.studio,
        None,
        [read_failed("stripe", "payment_intents", "not read: no Stripe connector is configured")],
    )
    reconciliation_run(studio=staff.studio)

    html = login(staff.viewer).get(page()).content.decode()
    assert "Stripe could not be read" in html
    assert "no Stripe connector is configured" in html
    assert reverse("cockpit:connectors", args=["north-kiln"]) in html
    assert "No open flags" not in html


def test_a_partial_run_says_nothing_was_resolved(staff, login):
    seed_mirror(staff.studio, 20)
    CloudRecord.objects.filter(studio=staff.studio, collection="disputes").delete()
    Snapshot.objects.filter(studio=staff.studio).delete()
    snapshot_at(staff.studio, READ_AT, [read_failed("stripe", "disputes", "TIMEOUT: slow")])
    run = reconciliation_run(studio=staff.studio, now=SOON).run
    assert run.status == ReconciliationRun.Status.PARTIAL

    html = login(staff.viewer).get(page()).content.decode()
    assert "Partial run" in html


def test_htmx_gets_the_fragment_only(staff, login):
    response = login(staff.viewer).get(page(), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="finance-body"' in html
    assert "<html" not in html


def test_reconcile_now_queues_the_task_on_the_reads_queue(staff, login, monkeypatch):
    from brain.tasks import reconcile_studio

    sent = []
    monkeypatch.setattr(
        reconcile_studio,
        "apply_async",
        lambda args: sent.append((args, routed_queue("brain.tasks.reconcile_studio"))),
    )
    response = login(staff.operator).post(reconcile_url())
    assert response.status_code == 302
    assert sent == [((staff.studio.pk,), "reads")]


def test_reconcile_now_runs_a_reconciliation(staff, login):
    seed_mirror(staff.studio, 20)
    celery_app.conf.task_always_eager = True
    try:
        response = login(staff.operator).post(reconcile_url(), headers={"HX-Request": "true"})
    finally:
        celery_app.conf.task_always_eager = False
    assert response.status_code == 200
    assert ReconciliationRun.objects.filter(studio=staff.studio).count() == 1
    assert "Last run" in response.content.decode()


def test_reconcile_now_with_the_queue_down_says_so(staff, login, monkeypatch):
    from brain.tasks import reconcile_studio

    def down(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(reconcile_studio, "apply_async", down)
    response = login(staff.operator).post(reconcile_url(), follow=True)
    assert "Could not queue the reconciliation" in response.content.decode()


def test_queries_do_not_grow_with_flags(staff, login, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from brain.models import ReconciliationFlag

    client = login(staff.viewer)
    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=SOON)
    few_flags = ReconciliationFlag.objects.filter(studio=staff.studio).count()
    client.get(page())  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get(page())
    CloudRecord.objects.filter(studio=staff.studio).delete()
    Snapshot.objects.filter(studio=staff.studio).delete()
    seed_mirror(staff.studio, 200)
    reconciliation_run(studio=staff.studio, now=SOON)
    assert ReconciliationFlag.objects.filter(studio=staff.studio).count() > few_flags * 5

    with django_assert_num_queries(len(few)):
        client.get(page())


def test_propose_adjustment_prefills_the_new_proposal_form_from_the_flag(staff, login):
    from brain.models import ReconciliationFlag
    from governance.models import Proposal

    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=SOON)
    flag = ReconciliationFlag.objects.get(studio=staff.studio, flag_class="amount_mismatch")
    client = login(staff.operator)
    assert f"?flag={flag.pk}" in client.get(page()).content.decode()

    new = reverse("cockpit:proposal_new", args=["north-kiln"])
    form = client.get(f"{new}?flag={flag.pk}").context["form"]
    assert form.initial["capability"] == "finance.reconciliation.adjust"
    assert '"order_id": "ord0000002"' in form.initial["input"]
    assert "pi_2" in form.initial["rationale"]

    proposed = form.initial["input"].replace('"note": ""', '"note": "Customer paid the new price"')
    response = client.post(
        new,
        {
            "capability": form.initial["capability"],
            "input": proposed,
            "rationale": form.initial["rationale"],
        },
    )
    assert response.status_code == 302
    proposal = Proposal.objects.get(studio=staff.studio)
    assert proposal.capability_id == "finance.reconciliation.adjust"
    assert proposal.input["order_id"] == "ord0000002"


def test_propose_adjustment_for_a_resolved_or_foreign_flag_is_404(staff, login):
    from brain.models import ReconciliationFlag

    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=SOON)
    flag = ReconciliationFlag.objects.filter(studio=staff.studio).first()
    new = reverse("cockpit:proposal_new", args=["south-clay"])
    assert login(staff.outsider).get(f"{new}?flag={flag.pk}").status_code == 404
    ReconciliationFlag.objects.filter(pk=flag.pk).update(resolved_at=SOON)
    new = reverse("cockpit:proposal_new", args=["north-kiln"])
    assert login(staff.operator).get(f"{new}?flag={flag.pk}").status_code == 404


def test_a_viewer_sees_no_propose_link(staff, login):
    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=SOON)
    assert "Propose adjustment" not in login(staff.viewer).get(page()).content.decode()


def test_a_flag_with_an_open_adjustment_links_it_instead_of_offering_another(staff, login):
    from brain.models import ReconciliationFlag

    seed_mirror(staff.studio, 20)
    reconciliation_run(studio=staff.studio, now=SOON)
    flag = ReconciliationFlag.objects.get(studio=staff.studio, flag_class="amount_mismatch")
    proposal = propose_adjustment(staff, flag)
    body = login(staff.operator).get(page()).content.decode()
    assert f"proposal #{proposal.pk}</a> is pending approval" in body
    assert f"?flag={flag.pk}" not in body
    others = ReconciliationFlag.objects.filter(studio=staff.studio).exclude(pk=flag.pk)
    assert all(f"?flag={other.pk}" in body for other in others)
