"""The audit chain: the ONLY code that writes ``AuditEvent`` rows, and the code that checks them.

Each studio has its own chain (plus one global chain, studio NULL, for logins and other
events that belong to no studio). A row's ``hash`` is
``sha256(canonical_json(fields) + prev_hash)`` where ``prev_hash`` is the previous row's
hash in the same chain (64 zeros for the first). Appends lock the chain's
``AuditChainHead`` row until the caller's transaction ends, so two writers can never
attach to the same link; different studios never wait for each other.

``audit_append`` must run inside the caller's transaction: the event commits with the
change it records, or neither does (deny-on-missing-audit).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from brain.context import current_request_id
from brain.models import Studio
from connectors.sdk.canonical import canonical_json, format_time
from governance.actors import Actor
from governance.models import AuditChainHead, AuditDigest, AuditEvent

GENESIS_HASH = "0" * 64
VERIFY_BATCH = 20_000


class AuditError(Exception):
    """The audit chain cannot be written or is not intact."""


class AuditSigningKeyMissing(AuditError):
    """BRAIN_AUDIT_SIGNING_KEY is unset: no digest is made rather than an unsigned one."""


def event_fields(
    *,
    studio_id: int | None,
    sequence: int,
    occurred_at: str,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    approval_state: str,
    reason_code: str,
    input_hash: str,
    output_hash: str,
    request_id: str,
    metadata: Any,
) -> dict[str, Any]:
    """The hashed fields of an event (the reference form; ``occurred_at`` is canonical text)."""
    return {
        "action": action,
        "actor_id": actor_id,
        "actor_type": actor_type,
        "approval_state": approval_state,
        "input_hash": input_hash,
        "metadata": metadata,
        "occurred_at": occurred_at,
        "output_hash": output_hash,
        "reason_code": reason_code,
        "request_id": request_id,
        "sequence": sequence,
        "studio": studio_id,
        "target_id": target_id,
        "target_type": target_type,
    }


def link_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """``sha256(canonical_json(fields) + prev_hash)`` in hex: the definition all paths match."""
    return hashlib.sha256(canonical_json(fields) + prev_hash.encode("ascii")).hexdigest()


# The canonical JSON of an event, cut where the two values known only under the chain lock
# go: its time and its sequence. The pieces are built here, in key order, from the same
# encoder rules as connectors.sdk.canonical; tests check they join to canonical_json(event_fields).
_esc = encode_basestring_ascii


def _head_piece(
    action: str,
    actor_id: str,
    actor_type: str,
    approval_state: str,
    input_hash: str,
    metadata_json: str,
) -> str:
    return (
        f'{{"action":{_esc(action)},"actor_id":{_esc(actor_id)},"actor_type":{_esc(actor_type)},'
        f'"approval_state":{_esc(approval_state)},"input_hash":{_esc(input_hash)},'
        f'"metadata":{metadata_json},"occurred_at":"'
    )


def _middle_piece(output_hash: str, reason_code: str, request_id: str) -> str:
    return (
        f'","output_hash":{_esc(output_hash)},"reason_code":{_esc(reason_code)},'
        f'"request_id":{_esc(request_id)},"sequence":'
    )


def _tail_piece(studio_json: str, target_id: str, target_type: str) -> str:
    return (
        f',"studio":{studio_json},"target_id":{_esc(target_id)},"target_type":{_esc(target_type)}}}'
    )


def _studio_json(studio_id: int | None) -> str:
    return "null" if studio_id is None else str(int(studio_id))


def in_chain(studio_id: int | None) -> Q:
    """The rows of one chain: a studio's, or the global one (studio NULL)."""
    return Q(studio__isnull=True) if studio_id is None else Q(studio_id=studio_id)


# One statement locks the chain head, stamps the time under that lock, inserts the event
# with its hash (Postgres joins the pieces and runs sha256) and moves the head. The lock is
# then held only for this statement and the caller's commit, which is what keeps many
# writers on one chain fast. The time format matches connectors.sdk.canonical.format_time.
_APPEND_SQL = """
WITH head AS MATERIALIZED (
    SELECT id, sequence + 1 AS next_sequence, hash AS prev_hash, clock_timestamp() AS at
    FROM governance_auditchainhead
    WHERE {chain}
    FOR UPDATE
),
event AS (
    INSERT INTO governance_auditevent (
        studio_id, sequence, occurred_at, actor_type, actor_id, action, target_type, target_id,
        approval_state, reason_code, input_hash, output_hash, request_id, metadata_json,
        prev_hash, hash
    )
    SELECT %(studio)s, head.next_sequence, head.at, %(actor_type)s, %(actor_id)s, %(action)s,
        %(target_type)s, %(target_id)s, %(approval_state)s, %(reason_code)s, %(input_hash)s,
        %(output_hash)s, %(request_id)s, %(metadata_json)s, head.prev_hash,
        encode(sha256(convert_to(
            %(head_piece)s || to_char(head.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            || %(middle_piece)s || head.next_sequence::text || %(tail_piece)s || head.prev_hash,
            'UTF8')), 'hex')
    FROM head
    RETURNING id, sequence, occurred_at, prev_hash, hash
),
moved AS (
    UPDATE governance_auditchainhead
    SET sequence = event.sequence, hash = event.hash, updated_at = event.occurred_at
    FROM event, head
    WHERE governance_auditchainhead.id = head.id
)
SELECT id, sequence, occurred_at, prev_hash, hash FROM event
"""


def audit_append(
    *,
    studio: Studio | int | None,
    actor: Actor,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    approval_state: str = "",
    reason_code: str = "",
    input_hash: str = "",
    output_hash: str = "",
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the studio's chain (``studio=None``: the global chain).

    Must be called inside the transaction that makes the change being recorded; raises
    ``AuditError`` otherwise. Any failure propagates, so the caller's change rolls back.
    """
    if not connection.in_atomic_block:
        raise AuditError("audit_append must run inside the transaction of the change it records")
    studio_id = studio.pk if isinstance(studio, Studio) else studio
    text: dict[str, str] = {
        "actor_type": str(actor.type),
        "actor_id": actor.id,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "approval_state": approval_state,
        "reason_code": str(reason_code),
        "input_hash": input_hash,
        "output_hash": output_hash,
        "request_id": current_request_id() or "",
        "metadata_json": canonical_json(metadata or {}).decode("ascii"),
    }
    values: dict[str, Any] = {
        **text,
        "studio": studio_id,
        "head_piece": _head_piece(
            text["action"],
            text["actor_id"],
            text["actor_type"],
            text["approval_state"],
            text["input_hash"],
            text["metadata_json"],
        ),
        "middle_piece": _middle_piece(text["output_hash"], text["reason_code"], text["request_id"]),
        "tail_piece": _tail_piece(_studio_json(studio_id), text["target_id"], text["target_type"]),
    }
    sql = _APPEND_SQL.format(
        chain="studio_id IS NULL" if studio_id is None else "studio_id = %(studio)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
        if row is None:
            # The chain's first event: create its head (a concurrent creator is fine), then append.
            cursor.execute(
                "INSERT INTO governance_auditchainhead (studio_id, sequence, hash, updated_at) "
                "VALUES (%s, 0, %s, now()) ON CONFLICT DO NOTHING",
                [studio_id, GENESIS_HASH],
            )
            cursor.execute(sql, values)
            row = cursor.fetchone()
    if row is None:
        raise AuditError(f"the audit chain head of {_studio_json(studio_id)} could not be locked")
    event_id, sequence, occurred_at, prev_hash, digest = row
    event = AuditEvent(
        id=event_id,
        studio_id=studio_id,
        sequence=sequence,
        occurred_at=occurred_at,
        prev_hash=prev_hash,
        hash=digest,
        **text,
    )
    event._state.adding = False
    return event


# Verification ---------------------------------------------------------------------------

# Postgres formats the time exactly as connectors.sdk.canonical.format_time does, so verification
# does not parse and re-format a datetime per row.
_ROW_SQL = """
SELECT sequence, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_type, actor_id, action, target_type, target_id, approval_state, reason_code,
       input_hash, output_hash, request_id, metadata_json, prev_hash, hash
FROM governance_auditevent
WHERE {chain} AND sequence >= %(first)s AND sequence <= %(last)s
ORDER BY sequence
"""


@dataclass(frozen=True)
class ChainReport:
    """The result of walking one chain (or a slice of it)."""

    studio_id: int | None
    count: int
    head_sequence: int
    head_hash: str
    bad_sequence: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_sequence is None and not self.problem

    @property
    def chain_label(self) -> str:
        return f"studio {self.studio_id}" if self.studio_id is not None else "global"

    def describe(self) -> str:
        if self.ok:
            return f"{self.chain_label}: {self.count} events, head {self.head_hash}"
        where = f" at sequence {self.bad_sequence}" if self.bad_sequence is not None else ""
        return f"{self.chain_label}: BROKEN{where}: {self.problem}"


def _check_rows(
    rows: Iterable[Sequence[Any]], studio_id: int | None, expected_sequence: int, prev_hash: str
) -> tuple[int, str, int | None, str]:
    """Walk rows in sequence order. Returns (count, last hash, bad sequence, problem).

    The hot loop of ``verify_audit``: it joins the stored text into the canonical bytes
    directly (the same pieces ``audit_append`` hashes) instead of building dicts.
    """
    count = 0
    sha256 = hashlib.sha256
    esc = _esc
    studio_json = _studio_json(studio_id)
    for row in rows:
        (
            sequence,
            occurred_at,
            actor_type,
            actor_id,
            action,
            target_type,
            target_id,
            approval_state,
            reason_code,
            input_hash,
            output_hash,
            request_id,
            metadata_json,
            stored_prev,
            stored_hash,
        ) = row
        if sequence != expected_sequence:
            return (
                count,
                prev_hash,
                expected_sequence,
                (f"gap: expected sequence {expected_sequence}, found {sequence}"),
            )
        if stored_prev != prev_hash:
            return (
                count,
                prev_hash,
                sequence,
                "broken link: prev_hash does not match the previous event's hash",
            )
        payload = (
            f'{{"action":{esc(action)},"actor_id":{esc(actor_id)},"actor_type":{esc(actor_type)},'
            f'"approval_state":{esc(approval_state)},"input_hash":{esc(input_hash)},'
            f'"metadata":{metadata_json},"occurred_at":"{occurred_at}","output_hash":{esc(output_hash)},'
            f'"reason_code":{esc(reason_code)},"request_id":{esc(request_id)},"sequence":{sequence},'
            f'"studio":{studio_json},"target_id":{esc(target_id)},"target_type":{esc(target_type)}}}'
            f"{prev_hash}"
        )
        try:
            computed = sha256(payload.encode("ascii")).hexdigest()
        except UnicodeEncodeError:  # canonical text is ASCII; stored text that is not was altered
            computed = ""
        if computed != stored_hash:
            return (
                count,
                prev_hash,
                sequence,
                "hash mismatch: the event's content does not match its hash",
            )
        prev_hash = stored_hash
        expected_sequence += 1
        count += 1
    return count, prev_hash, None, ""


def _stream(
    studio_id: int | None, first: int, last: int, progress: Callable[[int], object] | None = None
) -> Generator[Sequence[Any]]:
    """Rows of a chain through a server-side cursor, so memory stays flat for any length.

    ``progress(n)`` is told each batch of ``n`` rows as it is fetched (``verify_audit``'s bar)."""
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        chain = "studio_id IS NULL" if studio_id is None else "studio_id = %(studio)s"
        cursor.execute(
            _ROW_SQL.format(chain=chain), {"studio": studio_id, "first": first, "last": last}
        )
        while batch := cursor.fetchmany(VERIFY_BATCH):
            if progress is not None:
                progress(len(batch))
            yield from batch


def chain_length(studio_id: int | None) -> int:
    """The chain head's sequence: how many events verifying the chain walks."""
    head = AuditChainHead.objects.filter(in_chain(studio_id)).values_list("sequence", flat=True)
    return head.first() or 0


def verify_chain(
    studio_id: int | None, progress: Callable[[int], object] | None = None
) -> ChainReport:
    """Walk a whole chain from sequence 1 to its head and name the first bad link."""
    head = AuditChainHead.objects.filter(in_chain(studio_id)).first()
    if head is None:
        exists = AuditEvent.objects.filter(in_chain(studio_id)).exists()
        problem = "events exist but the chain has no head row" if exists else ""
        return ChainReport(studio_id, 0, 0, GENESIS_HASH, None, problem)
    with closing(_stream(studio_id, 1, head.sequence, progress)) as rows:
        count, last_hash, bad, problem = _check_rows(rows, studio_id, 1, GENESIS_HASH)
    if bad is None and count != head.sequence:
        bad, problem = (
            count + 1,
            f"missing events: the chain ends at {count} but its head is at {head.sequence}",
        )
    elif bad is None and last_hash != head.hash:
        bad, problem = head.sequence, "the head's hash does not match the last event"
    return ChainReport(studio_id, count, head.sequence, head.hash, bad, problem)


def chain_ids() -> list[int | None]:
    """Every chain that has a head or events: the global chain (None) first, then studios."""
    ids: set[int | None] = set(AuditChainHead.objects.values_list("studio_id", flat=True))
    ids |= set(AuditEvent.objects.values_list("studio_id", flat=True).distinct())
    return sorted(ids, key=lambda value: -1 if value is None else value)


def verify_events(events: Sequence[AuditEvent]) -> ChainReport:
    """Verify a slice of a chain (a proposal's events): each row's hash and its link backwards.

    Costs one query for the predecessors, whatever the number of events.
    """
    if not events:
        return ChainReport(None, 0, 0, GENESIS_HASH)
    studio_id = events[0].studio_id
    wanted = {event.sequence - 1 for event in events if event.sequence > 1}
    previous = dict(
        AuditEvent.objects.filter(in_chain(studio_id), sequence__in=wanted).values_list(
            "sequence", "hash"
        )
    )
    previous[0] = GENESIS_HASH
    last = events[-1]
    for event in events:
        if previous.get(event.sequence - 1) != event.prev_hash:
            return ChainReport(
                studio_id,
                len(events),
                last.sequence,
                last.hash,
                event.sequence,
                "broken link: prev_hash does not match the previous event's hash",
            )
        if event_hash(event) != event.hash:
            return ChainReport(
                studio_id,
                len(events),
                last.sequence,
                last.hash,
                event.sequence,
                "hash mismatch: the event's content does not match its hash",
            )
    return ChainReport(studio_id, len(events), last.sequence, last.hash)


def event_payload(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers: its canonical JSON followed by ``prev_hash``."""
    text = (
        _head_piece(
            event.action,
            event.actor_id,
            event.actor_type,
            event.approval_state,
            event.input_hash,
            event.metadata_json,
        )
        + format_time(event.occurred_at)
        + _middle_piece(event.output_hash, event.reason_code, event.request_id)
        + str(event.sequence)
        + _tail_piece(_studio_json(event.studio_id), event.target_id, event.target_type)
        + event.prev_hash
    )
    return text.encode("ascii", errors="replace")


def event_hash(event: AuditEvent) -> str:
    """Recompute one loaded event's hash from its fields and its stored prev_hash."""
    return hashlib.sha256(event_payload(event)).hexdigest()


# Signed daily digests -------------------------------------------------------------------


def digest_message(*, studio_id: int | None, day: date, sequence: int, head_hash: str) -> bytes:
    return canonical_json(
        {"day": day.isoformat(), "head_hash": head_hash, "sequence": sequence, "studio": studio_id}
    )


def digest_signature(key: str, message: bytes) -> str:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def audit_digest_create(
    *, key: str | None, day: date | None = None, now: datetime | None = None
) -> list[AuditDigest]:
    """Sign today's head of every chain, after verifying the whole chain.

    Refuses (``AuditSigningKeyMissing``) without a key, and (``AuditError``) when a chain is
    broken: a digest vouches for a chain, so it is never made over an unverified one.
    A chain that already has a digest for the day keeps it.
    """
    if not key:
        raise AuditSigningKeyMissing(
            "BRAIN_AUDIT_SIGNING_KEY is unset: no digest was made "
            "(an unsigned digest proves nothing); "
            "set BRAIN_AUDIT_SIGNING_KEY or BRAIN_AUDIT_SIGNING_KEY_FILE"
        )
    now = now or timezone.now()
    day = day or now.date()
    made: list[AuditDigest] = []
    for studio_id in chain_ids():
        report = verify_chain(studio_id)
        if not report.ok:
            raise AuditError(f"not signing a broken chain: {report.describe()}")
        message = digest_message(
            studio_id=studio_id, day=day, sequence=report.head_sequence, head_hash=report.head_hash
        )
        digest, created = AuditDigest.objects.filter(in_chain(studio_id)).get_or_create(
            day=day,
            defaults={
                "studio_id": studio_id,
                "sequence": report.head_sequence,
                "head_hash": report.head_hash,
                "signature": digest_signature(key, message),
                "created_at": now,
            },
        )
        if created:
            made.append(digest)
    return made


def digest_is_valid(digest: AuditDigest, key: str) -> bool:
    message = digest_message(
        studio_id=digest.studio_id,
        day=digest.day,
        sequence=digest.sequence,
        head_hash=digest.head_hash,
    )
    return hmac.compare_digest(digest_signature(key, message), digest.signature)
