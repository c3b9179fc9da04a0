from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from brain.embedded import private_file_write
from brain.models import Studio
from brain.services.snapshots import demo_directory, snapshot_capture, snapshot_latest
from brain.services.studios import StudioError, studio_create
from brain.state.demo import generate
from brain.state.sources import DemoSource
from connectors.sdk.canonical import canonical_json
from governance.actors import Actor
from governance.errors import Denied
from governance.services.memberships import membership_add

DEMO_STUDIO_SLUG = "demo"
DEMO_STUDIO_NAME = "Demo Studio"
DEMO_STUDIO_TIMEZONE = "Europe/London"
DEMO_ADMIN_USERNAME = "demo-admin"


class Command(BaseCommand):
    help = (
        "Create the demo studio and its admin for `make run` (idempotent). The admin's generated "
        "password is printed once and kept in a mode-600 file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--credentials-file",
            type=Path,
            default=Path(settings.BASE_DIR) / ".data" / "demo-admin.txt",
            help="where the demo admin's credentials are written on creation (mode 600)",
        )

    def handle(self, *args: Any, credentials_file: Path, **options: Any) -> None:
        try:
            if not Studio.objects.filter(slug=DEMO_STUDIO_SLUG).exists():
                studio_create(
                    slug=DEMO_STUDIO_SLUG, name=DEMO_STUDIO_NAME, timezone=DEMO_STUDIO_TIMEZONE
                )
                self.stdout.write(f"created studio {DEMO_STUDIO_SLUG} ({DEMO_STUDIO_NAME})")
            # membership_add keeps an existing user's password and only (re)sets the role.
            added = membership_add(
                actor=Actor.system("bootstrap_demo"),
                studio_slug=DEMO_STUDIO_SLUG,
                username=DEMO_ADMIN_USERNAME,
                role="admin",
            )
        except (StudioError, Denied) as error:
            raise CommandError(str(error)) from None

        self._demo_cloud()
        if added.generated_password:
            private_file_write(
                credentials_file,
                f"username: {DEMO_ADMIN_USERNAME}\npassword: {added.generated_password}\n",
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"demo admin created: username {DEMO_ADMIN_USERNAME}, "
                    f"password {added.generated_password} (shown once; kept in {credentials_file})"
                )
            )
            return
        if credentials_file.exists():
            self.stdout.write(
                f"demo admin {DEMO_ADMIN_USERNAME}: credentials in {credentials_file}"
            )
        else:
            user = get_user_model().objects.get(username=DEMO_ADMIN_USERNAME)
            self.stdout.write(
                f"demo admin {user.get_username()} exists; its password was shown when it was "
                f"created. Set a new one with `manage.py changepassword {DEMO_ADMIN_USERNAME}`."
            )

    def _demo_cloud(self) -> None:
        """Write the small demo cloud once and take a first snapshot, so State is never empty."""
        studio = Studio.objects.get(slug=DEMO_STUDIO_SLUG)
        directory = demo_directory(studio.slug)
        if not (directory / "firestore.json").exists():
            demo = generate(studio=studio.slug, size="small", seed=1)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "firestore.json").write_bytes(canonical_json(demo.firestore))
            (directory / "stripe.json").write_bytes(canonical_json(demo.stripe))
            self.stdout.write(f"demo cloud written to {directory}")
        if snapshot_latest(studio) is None:
            snapshot = snapshot_capture(studio=studio, source=DemoSource(directory)).snapshot
            self.stdout.write(f"first demo snapshot {snapshot.content_hash[:12]} captured")
