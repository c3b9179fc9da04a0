"""Governance's scheduled jobs through a real Celery worker on the Redis broker."""

import dataclasses
import datetime as dt
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from brain.models import JobRun
from governance.actors import Actor
from governance.enums import ProposalStatus
from governance.models import AuditDigest, AuditEvent, Proposal
from governance.services.proposals import proposal_submit
from governance.tasks import audit_digest, expire_proposals
from studio_brain.celery import app
from tests.conftest import mirror_batches
from tests.factories import StudioFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for_run(name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = JobRun.objects.filter(name=name).exclude(status=JobRun.Status.RUNNING).first()
        if run is not None:
            return run
        time.sleep(0.2)
    raise AssertionError(f"no finished {name} run within {timeout} s")


def test_a_real_worker_expires_due_proposals_and_signs_the_chain(settings):
    settings.BRAIN = dataclasses.replace(
        settings.BRAIN, audit_signing_key="worker-test-signing-key"
    )
    studio = StudioFactory(slug="worker-kiln")
    mirror_batches(studio, "b-1")
    proposal = proposal_submit(
        studio=studio,
        capability_id="firestore.ops_note.append",
        input={"batch_id": "b-1", "note": "Moved to kiln 2"},
        rationale="Kiln one is down this week",
        actor=Actor.system("ops-anomalies"),
    )
    Proposal.objects.filter(pk=proposal.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    # No queues=: start_worker would narrow the app's queue selection for every later test.
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False):
        expire_proposals.apply_async(queue="default")
        expired_run = wait_for_run("expire_proposals")
        audit_digest.apply_async(queue="default")
        digest_run = wait_for_run("audit_digest")
    assert expired_run.status == JobRun.Status.SUCCEEDED
    assert expired_run.summary == {"expired": [proposal.pk]}
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXPIRED
    assert list(AuditEvent.objects.filter(studio=studio).values_list("action", "actor_id")) == [
        ("proposal.submitted", "ops-anomalies"),
        ("proposal.expired", "expire_proposals"),
    ]
    assert digest_run.status == JobRun.Status.SUCCEEDED
    assert AuditDigest.objects.get(studio=studio).sequence == 2
