from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from brain.cli import BrainCommand, UsageError
from brain.services.snapshots import demo_directory
from brain.state.demo import SIZES, generate
from connectors.sdk.canonical import canonical_json


class Command(BrainCommand):
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
            raise UsageError(f"cannot create {directory}: {error.strerror}") from None
        # Four steps; generating a large cloud is most of the time.
        with self.progress(total=4, desc=f"demo cloud ({size})", unit="step") as bar:
            bar.set_postfix_str("generating")
            demo = generate(studio=studio, size=size, seed=seed)
            bar.update()
            # Canonical JSON: the same arguments always write the same bytes.
            bar.set_postfix_str("firestore.json")
            (directory / "firestore.json").write_bytes(canonical_json(demo.firestore))
            bar.update()
            bar.set_postfix_str("stripe.json")
            (directory / "stripe.json").write_bytes(canonical_json(demo.stripe))
            bar.update()
            (directory / "manifest.json").write_text(
                json.dumps(demo.manifest, indent=2, sort_keys=True), encoding="utf-8"
            )
            bar.update()
        report = {"out": str(directory), **demo.manifest}
        self.emit(
            report,
            [f"demo cloud for {studio} ({size}, seed {seed}) written to {directory}"]
            + [f"  {key}: {value}" for key, value in sorted(demo.manifest.items())],
        )
