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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": BROWSER_ARGS,
    }


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
