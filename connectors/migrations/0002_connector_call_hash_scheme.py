"""Label the connector call hashes written by the old encoder (docs/adr/0006-canonical-json.md).

Until now ``ConnectorCall.input_hash``/``output_hash`` were ``sha256:`` over UTF-8 JSON with
``default=str``; from now on ``sha256:`` means the one canonical JSON (ASCII, strict). The two
agree on ASCII-only input but not on text like "Glasur für Schale", and the old rows cannot be
recomputed (a read's input and every output were never stored), so they are relabelled
``sha256-utf8:`` instead: one prefix, one encoding. The digests themselves are not changed.
"""

from typing import Any

from django.db import migrations
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

LEGACY = "sha256-utf8:"
CURRENT = "sha256:"
COLUMNS = ("input_hash", "output_hash")


def _swap(apps: Any, old: str, new: str) -> None:
    call = apps.get_model("connectors", "ConnectorCall")
    for column in COLUMNS:
        call.objects.filter(**{f"{column}__startswith": old}).update(
            **{column: Concat(Value(new), Substr(F(column), len(old) + 1))}
        )


def relabel(apps: Any, schema_editor: Any) -> None:
    _swap(apps, CURRENT, LEGACY)


def unlabel(apps: Any, schema_editor: Any) -> None:
    _swap(apps, LEGACY, CURRENT)


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(relabel, unlabel, elidable=True),
    ]
