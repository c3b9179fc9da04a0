"""The factories' defaults build valid rows, each scoped to a studio (docs/architecture.md: one way to
build test data, and a row without a studio would let an isolation test pass vacuously)."""

from __future__ import annotations

import inspect

import factory
import pytest
from django.core.exceptions import ValidationError
from django.db import models

from brain.models import Studio
from tests import factories

pytestmark = pytest.mark.django_db

# Rows that exist outside any studio by design: the studio itself, people (members of
# several studios), and the capability registry's mirror (one registry for every studio).
UNSCOPED = {"StudioFactory", "UserFactory", "CapabilityFactory"}

ALL = sorted(
    (name, cls)
    for name, cls in inspect.getmembers(factories, inspect.isclass)
    if issubclass(cls, factory.django.DjangoModelFactory)
    and cls is not factory.django.DjangoModelFactory
)


def studio_of(row: models.Model) -> Studio | None:
    """The studio a row belongs to, followed through its foreign keys (config → studio)."""
    if isinstance(row, Studio):
        return row
    for field in row._meta.concrete_fields:
        if isinstance(field, models.ForeignKey) and field.related_model is Studio:
            return getattr(row, field.name)
    for field in row._meta.concrete_fields:
        if isinstance(field, models.ForeignKey):
            parent = getattr(row, field.name)
            if parent is not None and not isinstance(parent, type(row)):
                found = studio_of(parent)
                if found is not None:
                    return found
    return None


def test_every_factory_is_checked():
    assert len(ALL) >= 17
    assert {name for name, _ in ALL} >= UNSCOPED


@pytest.mark.parametrize(("name", "cls"), ALL, ids=[name for name, _ in ALL])
def test_a_factorys_defaults_make_a_valid_row(name, cls):
    row = cls()
    row.refresh_from_db()
    try:
        # JSON fields left at their empty default are valid rows, not blank input.
        row.full_clean(validate_unique=False, exclude=json_fields(row))
    except ValidationError as error:
        pytest.fail(f"{name} builds an invalid row: {error.message_dict}")
    if name not in UNSCOPED:
        assert studio_of(row) is not None, f"{name} builds a row outside any studio"


@pytest.mark.parametrize(("name", "cls"), ALL, ids=[name for name, _ in ALL])
def test_two_rows_from_the_same_defaults_do_not_collide(name, cls):
    first, second = cls(), cls()
    assert first.pk != second.pk


def json_fields(row: models.Model) -> list[str]:
    return [f.name for f in row._meta.concrete_fields if isinstance(f, models.JSONField)]
