"""A fresh, migrated database for one bench module, beside the configured one."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def bench_database_url(suffix: str) -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/studio_brain")
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "studio_brain"
    return urlunsplit(parts._replace(path=f"/{name}_{suffix}"))


def setup_django(suffix: str) -> None:
    """Point Django at ``<db>_<suffix>``, recreate it empty, migrate, and set Django up."""
    bench_url = bench_database_url(suffix)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")
    os.environ.setdefault(
        "DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789abcdef-0123456789abcdef"
    )
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("BRAIN_LOG_LEVEL", "WARNING")
    import psycopg

    parts = urlsplit(bench_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
