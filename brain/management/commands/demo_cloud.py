from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.services.snapshots import demo_directory
from brain.state.demo import SIZES, generate
from connectors.sdk.canonical import canonical_json


class Command(BaseCommand):
    help = "Generate a deterministic demo cloud (Firestore export JSON + Stripe objects JSON) for a studio."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--studio", required=True, help="studio slug the demo belongs to")
        parser.add_argument("--size", choices=sorted(SIZES), default="small")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--out", help="output folder (default: BRAIN_DEMO_DIR/<studio>)")

    def handle(
        self, *args: Any, studio: str, size: str, seed: int, out: str | None, **options: Any
    ) -> None:
        directory = Path(out) if out else demo_directory(studio)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CommandError(f"cannot create {directory}: {error.strerror}") from None
        demo = generate(studio=studio, size=size, seed=seed)
        # Canonical JSON: the same arguments always write the same bytes.
        (directory / "firestore.json").write_bytes(canonical_json(demo.firestore))
        (directory / "stripe.json").write_bytes(canonical_json(demo.stripe))
        (directory / "manifest.json").write_text(
            json.dumps(demo.manifest, indent=2, sort_keys=True), encoding="utf-8"
        )
        self.stdout.write(json.dumps({"out": str(directory), **demo.manifest}, sort_keys=True))
