import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from connectors.sdk.canonical import format_time
from governance.actors import Actor
from governance.audit import (
    GENESIS_HASH,
    AuditError,
    audit_append,
    event_fields,
    event_hash,
    link_hash,
    verify_chain,
    verify_events,
)
from governance.enums import ProposalStatus
from governance.models import Approval, AuditChainHead, AuditEvent
from governance.services.approvals import approval_grant
from tests.factories import StudioFactory
from tests.governance.conftest import chain

SYSTEM = Actor.system("test")


def append(studio, action="test.event", **extra):
    with transaction.atomic():
        return audit_append(studio=studio, actor=SYSTEM, action=action, **extra)


@pytest.mark.django_db
def test_each_event_links_to_the_previous_one_and_hashes_its_fields(studio):
    first = append(studio, metadata={"note": "céramique", "n": 3})
    second = append(studio, target_type="proposal", target_id=7)
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    stored = AuditEvent.objects.get(pk=first.pk)
    assert event_hash(stored) == stored.hash
    head = AuditChainHead.objects.get(studio=studio)
    assert (head.sequence, head.hash) == (2, second.hash)
    assert verify_chain(studio.pk).ok


@pytest.mark.django_db
def test_the_stored_pieces_hash_exactly_the_reference_canonical_json(studio):
    tricky = {
        "quote": 'say "hi"',
        "slash": "a\\b",
        "ctl": "\t\n\x01",
        "uni": "céramique ✓",
        "n": [1, 2.5],
    }
    event = append(
        studio,
        target_type="proposal",
        target_id="ü-1",
        metadata=tricky,
        reason_code='WEIRD"CODE',
        approval_state="pending\napproval",
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    fields = event_fields(
        studio_id=studio.pk,
        sequence=stored.sequence,
        occurred_at=format_time(stored.occurred_at),
        actor_type="system",
        actor_id="test",
        action="test.event",
        target_type="proposal",
        target_id="ü-1",
        approval_state="pending\napproval",
        reason_code='WEIRD"CODE',
        input_hash="",
        output_hash="",
        request_id="",
        metadata=tricky,
    )
    assert stored.hash == link_hash(fields, GENESIS_HASH) == event_hash(stored) == event.hash
    assert verify_chain(studio.pk).ok


@pytest.mark.django_db
def test_each_studio_and_the_global_chain_count_on_their_own(studio, other_studio):
    append(studio)
    append(other_studio)
    append(None, "auth.login")
    append(studio)
    assert [e.sequence for e in AuditEvent.objects.filter(studio=studio).order_by("sequence")] == [
        1,
        2,
    ]
    assert AuditEvent.objects.get(studio=other_studio).sequence == 1
    assert AuditEvent.objects.get(studio=None).sequence == 1
    assert all(verify_chain(chain_id).ok for chain_id in (studio.pk, other_studio.pk, None))


@pytest.mark.django_db(transaction=True)
def test_append_refuses_to_run_outside_a_transaction():
    studio = StudioFactory(slug="autocommit-kiln")
    with pytest.raises(AuditError, match="inside the transaction"):
        audit_append(studio=studio, actor=SYSTEM, action="test.event")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE governance_auditevent SET action = 'tampered'",
        "DELETE FROM governance_auditevent",
        "TRUNCATE governance_auditevent",
    ],
)
def test_the_database_rejects_changing_or_removing_audit_rows(studio, statement):
    append(studio)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # Deferred foreign-key checks from the append would otherwise block TRUNCATE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(statement)
    assert AuditEvent.objects.filter(studio=studio, action="test.event").count() == 1


@pytest.mark.django_db
def test_the_orm_cannot_delete_or_update_audit_rows_either(studio):
    event = append(studio)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason_code="X")


def tamper(sql, params):
    """As the superuser would: disable the triggers, change a row, enable them again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SET CONSTRAINTS ALL IMMEDIATE"
        )  # no deferred checks may be pending for ALTER
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER USER")


def run_verify(*args):
    out = StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_verify_audit_prints_the_count_and_head_when_intact(studio):
    for _ in range(3):
        last = append(studio)
    code, output = run_verify("--studio", studio.slug)
    assert code == 0
    assert f"3 events, head {last.hash}" in output


@pytest.mark.django_db
def test_tampering_one_row_makes_verify_name_that_sequence(studio):
    events = [append(studio, metadata={"i": i}) for i in range(5)]
    tamper(
        "UPDATE governance_auditevent SET metadata_json = '{\"i\":99}' WHERE id = %s",
        [events[2].pk],
    )
    code, output = run_verify("--studio", studio.slug)
    assert code == 1
    assert "first bad sequence 3: hash mismatch" in output


@pytest.mark.django_db
def test_a_deleted_row_is_reported_as_a_gap(studio):
    events = [append(studio) for _ in range(4)]
    tamper("DELETE FROM governance_auditevent WHERE id = %s", [events[1].pk])
    report = verify_chain(studio.pk)
    assert (report.bad_sequence, report.problem.split(":")[0]) == (2, "gap")


@pytest.mark.django_db
def test_a_rehashed_row_still_breaks_the_next_link(studio):
    events = [append(studio) for _ in range(3)]
    tamper("UPDATE governance_auditevent SET hash = %s WHERE id = %s", ["f" * 64, events[0].pk])
    report = verify_chain(studio.pk)
    assert report.bad_sequence == 1  # its own hash no longer matches its fields
    tamper(
        "UPDATE governance_auditevent SET hash = %s WHERE id = %s", [events[0].hash, events[0].pk]
    )
    tamper(
        "UPDATE governance_auditevent SET prev_hash = %s WHERE id = %s", ["e" * 64, events[2].pk]
    )
    report = verify_chain(studio.pk)
    assert (report.bad_sequence, report.problem.split(":")[0]) == (3, "broken link")


@pytest.mark.django_db
def test_a_removed_tail_is_caught_by_the_head(studio):
    events = [append(studio) for _ in range(3)]
    tamper("DELETE FROM governance_auditevent WHERE id = %s", [events[2].pk])
    report = verify_chain(studio.pk)
    assert report.bad_sequence == 3 and "missing events" in report.problem


@pytest.mark.django_db
def test_verify_events_checks_a_slice_and_its_links(studio):
    events = [append(studio, target_type="proposal", target_id=i % 2) for i in range(6)]
    proposal_slice = [e for e in events if e.target_id == "1"]
    assert verify_events(proposal_slice).ok
    tamper("UPDATE governance_auditevent SET actor_id = 'mallory' WHERE id = %s", [events[3].pk])
    reloaded = list(
        AuditEvent.objects.filter(pk__in=[e.pk for e in proposal_slice]).order_by("sequence")
    )
    assert verify_events(reloaded).bad_sequence == 4


@pytest.mark.django_db
def test_when_the_audit_insert_fails_the_change_does_not_happen(staff, submit):
    proposal = submit()
    # A real database failure on the audit insert, installed for this test's transaction only.
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE FUNCTION pg_temp.fail_audit() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END; $$;
            CREATE TRIGGER fail_audit_insert BEFORE INSERT ON governance_auditevent
                FOR EACH ROW EXECUTE FUNCTION pg_temp.fail_audit();
        """)
    with pytest.raises(DatabaseError, match="audit store unavailable"):
        approval_grant(
            proposal_id=proposal.pk, actor=Actor.staff(staff.approver), rationale="Fine by the team"
        )
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER fail_audit_insert ON governance_auditevent")
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING_APPROVAL
    assert not Approval.objects.exists()
    assert chain(staff.studio.pk) == [(1, "proposal.submitted", "ALLOWED")]


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_build_one_unbroken_chain():
    studio = StudioFactory(slug="busy-kiln")
    per_writer, writers = 40, 8
    errors = []
    start = threading.Barrier(writers)

    def writer(index):
        try:
            start.wait()
            for n in range(per_writer):
                with transaction.atomic():
                    audit_append(
                        studio=studio.pk,
                        actor=Actor.system(f"writer-{index}"),
                        action="test.concurrent",
                        metadata={"n": n},
                    )
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = list(
        AuditEvent.objects.filter(studio=studio)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, per_writer * writers + 1))
    report = verify_chain(studio.pk)
    assert report.ok and report.count == per_writer * writers
