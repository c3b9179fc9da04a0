"""Keep the cloud mirror in step with a read: add, change, mark deleted, restore."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from brain.models import CloudRecord, Studio
from brain.state.diff import RecordKey, diff_records
from brain.state.sources import SourceRead, collection_group

BATCH = 2000


def mirror_sync(*, studio: Studio, read: SourceRead) -> dict[str, dict[str, Any]]:
    """Apply one source read to the studio's mirror and return the record-level changes.

    Records missing from the read are marked deleted only when their collection group was
    read completely (no error, no scan limit): a partial read must never look like deletions.
    Runs inside the caller's transaction.
    """
    now = timezone.now()
    read_at = read.read_at or now  # only None when nothing was read, so no record uses it
    rows = CloudRecord.objects.filter(studio=studio, source=read.source).values_list(
        "pk", "collection", "doc_id", "content_hash", "deleted_at"
    )
    existing: dict[RecordKey, tuple[int, str, bool]] = {
        (collection, doc_id): (pk, digest, deleted_at is not None)
        for pk, collection, doc_id, digest, deleted_at in rows
    }
    before: dict[RecordKey, str] = {
        key: digest for key, (_, digest, deleted) in existing.items() if not deleted
    }
    after = dict(before)
    to_create: list[CloudRecord] = []
    to_update: list[CloudRecord] = []
    for doc in read.documents:
        key = (doc.collection, doc.doc_id)
        after[key] = doc.content_hash
        known = existing.get(key)
        if known is None:
            to_create.append(
                CloudRecord(
                    studio=studio,
                    source=read.source,
                    collection=doc.collection,
                    doc_id=doc.doc_id,
                    data=doc.data,
                    content_hash=doc.content_hash,
                    source_updated_at=doc.updated_at,
                    read_at=read_at,
                    first_seen_at=now,
                )
            )
        elif known[1] != doc.content_hash or known[2]:
            to_update.append(
                CloudRecord(
                    pk=known[0],
                    data=doc.data,
                    content_hash=doc.content_hash,
                    source_updated_at=doc.updated_at,
                    read_at=read_at,
                    deleted_at=None,
                )
            )
    complete = read.complete_collections()
    seen = {(doc.collection, doc.doc_id) for doc in read.documents}
    gone = [key for key in before if key not in seen and collection_group(key[0]) in complete]
    for key in gone:
        del after[key]
    CloudRecord.objects.bulk_create(to_create, batch_size=BATCH)
    CloudRecord.objects.bulk_update(
        to_update,
        ["data", "content_hash", "source_updated_at", "read_at", "deleted_at"],
        batch_size=500,
    )
    gone_pks = [existing[key][0] for key in gone]
    for start in range(0, len(gone_pks), BATCH):
        CloudRecord.objects.filter(pk__in=gone_pks[start : start + BATCH]).update(deleted_at=now)
    return diff_records(before, after)
