import dataclasses
import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from brain.models import JobRun
from governance.actors import Actor
from governance.audit import AuditError, audit_append, audit_digest_create, digest_is_valid
from governance.models import AuditDigest, AuditEvent

pytestmark = pytest.mark.django_db
KEY = "digest-key-for-tests-only"


def append(studio):
    with transaction.atomic():
        return audit_append(studio=studio, actor=Actor.system("test"), action="test.event")


@pytest.fixture
def signing_key(settings):
    settings.BRAIN = dataclasses.replace(settings.BRAIN, audit_signing_key=KEY)


def test_without_a_key_the_digest_job_fails_and_says_so(studio, settings):
    settings.BRAIN = dataclasses.replace(settings.BRAIN, audit_signing_key=None)
    append(studio)
    with pytest.raises(CommandError, match="BRAIN_AUDIT_SIGNING_KEY is unset"):
        call_command("audit_digest", stdout=StringIO())
    run = JobRun.objects.get(name="audit_digest")
    assert run.status == JobRun.Status.FAILED
    assert "BRAIN_AUDIT_SIGNING_KEY is unset" in run.error
    assert not AuditDigest.objects.exists()


def test_the_digest_signs_each_chain_head_once_a_day(studio, other_studio, signing_key):
    append(studio)
    last = append(studio)
    append(other_studio)
    out = StringIO()
    call_command("audit_digest", stdout=out)
    assert "signed 2 chain head(s)" in out.getvalue()
    digest = AuditDigest.objects.get(studio=studio)
    assert (digest.sequence, digest.head_hash) == (2, last.hash)
    assert digest_is_valid(digest, KEY)
    assert not digest_is_valid(digest, "another-key")
    digest.head_hash = "0" * 64  # a forged head no longer matches the signature
    assert not digest_is_valid(digest, KEY)
    call_command("audit_digest", stdout=StringIO())
    assert AuditDigest.objects.count() == 2


def test_a_broken_chain_is_never_signed(studio, signing_key):
    event = append(studio)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE governance_auditevent SET action = 'x' WHERE id = %s", [event.pk])
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER USER")
    with pytest.raises(AuditError, match="not signing a broken chain"):
        audit_digest_create(key=KEY, now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    assert not AuditDigest.objects.exists()
    assert AuditEvent.objects.count() == 1


def test_the_digest_job_is_in_the_beat_schedule():
    from studio_brain.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"governance.tasks.audit_digest", "governance.tasks.expire_proposals"} <= tasks
