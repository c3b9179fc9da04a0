"""Shared fixtures: two studios, and staff of every role plus an outsider, per STYLE.md."""

from dataclasses import dataclass

import pytest
from django.test import Client

from brain.models import Role, Studio
from tests.factories import MembershipFactory, StudioFactory, UserFactory

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def _flush_past_audit_triggers():
    """Let test teardown flush the append-only audit table.

    Transactional tests (live_server, real workers, threads) end with Django's flush, a
    TRUNCATE of every table, which the audit table's trigger rejects by design. The flush
    runs with session_replication_role=replica, which skips ordinary triggers and needs a
    superuser: the test role is one, the application's role in production is not.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with self.connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            original(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute("RESET session_replication_role")

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Production hashing costs most of a second per user on this machine; tests need none of it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": BROWSER_ARGS}


@dataclass
class Staff:
    studio: Studio
    other_studio: Studio
    viewer: object
    operator: object
    approver: object
    admin: object
    outsider: object  # a member of the other studio only


@pytest.fixture
def studio(db) -> Studio:
    return StudioFactory(slug="north-kiln", name="North Kiln Ceramics")


@pytest.fixture
def other_studio(db) -> Studio:
    return StudioFactory(slug="south-clay", name="South Clay Works")


@pytest.fixture
def staff(studio, other_studio) -> Staff:
    def member(username: str, role: Role, where: Studio):
        return MembershipFactory(user=UserFactory(username=username), studio=where, role=role).user

    return Staff(
        studio=studio,
        other_studio=other_studio,
        viewer=member("vera", Role.VIEWER, studio),
        operator=member("otto", Role.OPERATOR, studio),
        approver=member("anna", Role.APPROVER, studio),
        admin=member("ada", Role.ADMIN, studio),
        outsider=member("oscar", Role.ADMIN, other_studio),
    )


@pytest.fixture
def login():
    def _login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login
