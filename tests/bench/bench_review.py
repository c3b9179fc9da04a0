"""Benchmarks of the review queue and bulk review. ``main()`` prints the figures (wall-clock
goals are reported, not tested; the query counts are tested in tests/cockpit/).

Runs against its own database (``<DATABASE_URL's name>_bench_review``, dropped and
recreated), in-process through Django's test client (every middleware, the template):

1. the queue page with 10,000 pending proposals and a text search, server time (median
   of interleaved runs) and query count, against the Django admin changelist with
   ``search_fields`` on the same fields and the same rows (a bench-local ``ModelAdmin`` on a
   bench-local ``StudioAdminSite``, 25 a page like the queue). Goal: faster, and a query
   count that does not grow with the rows. Also the unsearched first page.
2. bulk approval of 100 proposals (``approval_bulk_decide``: one transaction, a savepoint
   and the full service per item) against 100 single ``approval_grant`` calls, each its own
   transaction, median of several rounds. Goal: <= 0.5x the time.

    python -m tests.bench.bench_review [--rows N] [--runs N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from tests.bench.benchdb import setup_django

SEARCH = "batch-42"  # matches batch-42, batch-420..429, batch-4200..4299: about 1 % of rows
PASSWORD = "bench-only-password"


def _bench_site() -> Any:
    from django.contrib import admin

    from governance.models import Proposal
    from studio_brain.admin import StudioAdminSite

    class BenchProposalAdmin(admin.ModelAdmin):
        """The baseline: what the admin gives for free, searching the fields the queue searches."""

        list_display = (
            "id",
            "summary",
            "capability",
            "risk",
            "requested_by_user",
            "created_at",
            "status",
        )
        list_filter = ("status",)
        list_select_related = ("capability", "requested_by_user")
        search_fields = (
            "capability__id",
            "summary",
            "rationale",
            "input",
            "requested_by_id",
            "requested_by_user__username",
        )
        list_per_page = 25
        ordering = ("-created_at", "-id")

    site = StudioAdminSite(name="bench_admin")
    site.register(Proposal, BenchProposalAdmin)
    return site


urlpatterns: list[Any] = []  # filled by _urls() once Django is set up


def _urls() -> None:
    from django.urls import include, path

    urlpatterns[:] = [
        path("bench-admin/", _bench_site().urls),
        path("", include("studio_brain.urls")),
    ]


def _world(rows: int) -> dict[str, Any]:
    import datetime as dt

    from django.utils import timezone

    from brain.models import Role
    from connectors.sdk.canonical import canonical_hash
    from governance.models import Proposal
    from tests.factories import MembershipFactory, ProposalFactory, StudioFactory, UserFactory

    studio = StudioFactory(slug="bench-kiln", name="Bench Kiln")
    reviewer = UserFactory(username="rita", password=PASSWORD, superuser=True)
    MembershipFactory(user=reviewer, studio=studio, role=Role.ADMIN)
    operators = [UserFactory(username=f"op{n}", password=PASSWORD) for n in range(5)]
    for user in operators:
        MembershipFactory(user=user, studio=studio, role=Role.OPERATOR)
    now = timezone.now()
    batch = []
    for n in range(rows):
        made = now - dt.timedelta(seconds=30 * n)
        data = {"batch_id": f"batch-{n}", "note": f"Glaze firing {n % 97} moved to kiln {n % 3}"}
        staff = operators[n % 5] if n % 2 else None
        batch.append(
            ProposalFactory.build(
                studio=studio,
                input=data,
                input_hash=canonical_hash(data),
                summary=f"Add an ops note to batch batch-{n}",
                rationale=f"Kiln {n % 3} schedule changed (week {n % 52})",
                requested_by_type="staff" if staff else "agent",
                requested_by_id=str(staff.pk) if staff else f"ops-bot-{n % 7}",
                requested_by_user=staff,
                created_at=made,
                submitted_at=made,
                expires_at=made + dt.timedelta(hours=72),
                updated_at=made,
            )
        )
    Proposal.objects.bulk_create(batch, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        # As autovacuum would have left a table this size: statistics and the visibility
        # map (index-only counts), for both pages alike.
        cursor.execute("VACUUM ANALYZE governance_proposal")
    return {"studio": studio, "reviewer": reviewer}


def _timed_get(client: Any, url: str) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code)
    return elapsed * 1000, len(queries), len(response.content)


def bench_queue(world: dict[str, Any], runs: int) -> dict[str, Any]:
    from django.test import Client

    client = Client()
    client.force_login(world["reviewer"])
    slug = world["studio"].slug
    pages = {
        "queue, search": f"/s/{slug}/proposals/?q={SEARCH}",
        "admin, search": f"/bench-admin/governance/proposal/?status__exact=pending_approval&q={SEARCH}",
        "queue, first page": f"/s/{slug}/proposals/",
        "admin, first page": "/bench-admin/governance/proposal/?status__exact=pending_approval",
    }
    samples: dict[str, list[float]] = {name: [] for name in pages}
    queries: dict[str, int] = {}
    for url in pages.values():  # warm-up: templates, plans, the session
        _timed_get(client, url)
    for _ in range(runs):
        for name, url in pages.items():  # interleaved, so drift hits all alike
            ms, count, _ = _timed_get(client, url)
            samples[name].append(ms)
            queries[name] = count
    result = {name: statistics.median(values) for name, values in samples.items()}
    return {"median_ms": result, "queries": queries}


def bench_bulk(world: dict[str, Any], rounds: int) -> dict[str, Any]:
    from brain.models import Role
    from governance.actors import Actor
    from governance.models import Proposal
    from governance.services.approvals import approval_grant
    from governance.services.bulk_review import BulkVerb, approval_bulk_decide
    from tests.factories import MembershipFactory, ProposalFactory, UserFactory

    approver = UserFactory(username="anna", password=PASSWORD)
    MembershipFactory(user=approver, studio=world["studio"], role=Role.APPROVER)
    actor = Actor.staff(approver)
    why = "Routine ops notes, all checked"

    def fresh() -> list[int]:
        made = Proposal.objects.bulk_create(
            ProposalFactory.build_batch(100, studio=world["studio"])
        )
        return [p.pk for p in made]

    singles: list[float] = []
    bulks: list[float] = []
    for _ in range(rounds):
        ids = fresh()
        started = time.perf_counter()
        for proposal_id in ids:
            approval_grant(proposal_id=proposal_id, actor=actor, rationale=why)
        singles.append(time.perf_counter() - started)
        ids = fresh()
        started = time.perf_counter()
        outcomes = approval_bulk_decide(
            studio_id=world["studio"].pk,
            proposal_ids=ids,
            actor=actor,
            rationale=why,
            verb=BulkVerb.APPROVE,
        )
        bulks.append(time.perf_counter() - started)
        assert sum(o.decided for o in outcomes) == 100
    single, bulk = statistics.median(singles), statistics.median(bulks)
    return {"single_ms": single * 1000, "bulk_ms": bulk * 1000, "ratio": bulk / single}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    setup_django("bench_review")
    from django.test.utils import override_settings, setup_test_environment

    setup_test_environment()  # the test client's response.context and ALLOWED_HOSTS
    _urls()
    world = _world(args.rows)
    with override_settings(ROOT_URLCONF=__name__):
        queue = bench_queue(world, args.runs)
    ms, counts = queue["median_ms"], queue["queries"]
    print(f"1. queue vs admin changelist, {args.rows} pending, median of {args.runs}:")
    for kind in ("search", "first page"):
        ours, theirs = ms[f"queue, {kind}"], ms[f"admin, {kind}"]
        print(
            f"   {kind:<10}  queue {ours:7.1f} ms, {counts[f'queue, {kind}']:2d} queries | "
            f"admin {theirs:7.1f} ms, {counts[f'admin, {kind}']:2d} queries | "
            f"ratio {ours / theirs:.2f}x (goal < 1)"
        )
    bulk = bench_bulk(world, args.rounds)
    print(f"2. 100 approvals, median of {args.rounds} rounds:")
    print(
        f"   bulk {bulk['bulk_ms']:.0f} ms vs 100 single {bulk['single_ms']:.0f} ms: "
        f"ratio {bulk['ratio']:.2f}x (goal <= 0.5)"
    )
    return {"queue": queue, "bulk": bulk}


if __name__ == "__main__":
    main()
