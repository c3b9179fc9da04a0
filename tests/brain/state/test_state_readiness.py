import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from brain.health import check_snapshots
from studio_brain.celery import app
from tests.factories import SnapshotFactory


def make_snapshot(studio, generated_at):
    return SnapshotFactory(
        studio=studio,
        kind="capture",
        snapshot_date=generated_at.date(),
        generated_at=generated_at,
        data_source="demo",
        content={},
        content_hash="0" * 64,
        completeness="full",
    )


@pytest.mark.django_db
def test_no_snapshot_warns_without_failing(studio):
    [result] = [r for r in check_snapshots() if r.name == f"snapshot:{studio.slug}"]
    assert (result.status, result.detail) == ("warn", "no snapshot yet")


@pytest.mark.django_db
def test_a_snapshot_older_than_the_max_age_is_stale(studio, settings):
    make_snapshot(
        studio, timezone.now() - settings.BRAIN.snapshot_max_age - timezone.timedelta(minutes=1)
    )
    [result] = [r for r in check_snapshots() if r.name == f"snapshot:{studio.slug}"]
    assert result.status == "stale"
    assert "limit 240 min" in result.detail


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_readyz_turns_stale_with_a_worker_up(studio, client, settings):
    make_snapshot(studio, timezone.now())
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        assert client.get("/readyz").json()["status"] == "ready"
        later = timezone.now() + settings.BRAIN.snapshot_max_age + timezone.timedelta(minutes=5)
        with time_machine.travel(later, tick=True):
            response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "stale"
