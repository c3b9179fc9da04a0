"""Snapshot warnings become ``{code, source, collection, detail}`` records (brain/state/warnings.py).

Stored snapshots are converted rather than read tolerantly, so every reader sees one shape.
Each old text line is parsed by ``from_text`` (the inverse of the wording the three producers
wrote: read failed, scan limit, drift); a line none of them wrote stops the migration rather
than being guessed at. The content hash is recomputed, since the content changed: a rebuild
of the same cloud data then reproduces it. Reversible.
"""

from typing import Any

from django.db import migrations

from brain.state.warnings import from_text, sorted_warnings, warning_text
from connectors.sdk.canonical import canonical_hash


def _convert(apps: Any, to_structured: bool) -> None:
    snapshot_model = apps.get_model("brain", "Snapshot")
    for snapshot in snapshot_model.objects.only("content", "content_hash").iterator():
        diagnostics = snapshot.content.get("diagnostics", {})
        warnings = diagnostics.get("warnings", [])
        if not warnings:
            continue
        if to_structured:
            if not any(isinstance(item, str) for item in warnings):
                continue
            diagnostics["warnings"] = sorted_warnings(
                from_text(item) if isinstance(item, str) else item for item in warnings
            )
        else:
            if all(isinstance(item, str) for item in warnings):
                continue
            diagnostics["warnings"] = sorted(
                item if isinstance(item, str) else warning_text(item) for item in warnings
            )
        snapshot.content_hash = canonical_hash(snapshot.content)
        snapshot.save(update_fields=["content", "content_hash"])


def to_structured(apps: Any, schema_editor: Any) -> None:
    _convert(apps, True)


def to_text(apps: Any, schema_editor: Any) -> None:
    _convert(apps, False)


class Migration(migrations.Migration):
    dependencies = [
        ("brain", "0002_studio_state"),
    ]

    operations = [
        migrations.RunPython(to_structured, to_text, elidable=True),
    ]
