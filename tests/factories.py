"""factory_boy factories: the one way tests build rows.

Every factory's defaults make a valid row scoped to a studio (created by a SubFactory when
the test names none). Governed rows (exemptions, capabilities, proposals) are built here
only for tests that write around the services on purpose; everything else goes through the
services. Benches use ``build_batch`` / ``build`` + ``bulk_create`` where they need speed.
"""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from brain.models import CloudRecord, JobRun, Membership, Role, Snapshot, Studio
from connectors.models import ConnectorCall, ConnectorConfig, ConnectorHealth, DeviceReading
from connectors.sdk.canonical import canonical_hash
from governance.enums import ActorType, ProposalStatus, Risk
from governance.models import (
    AgentClient,
    AgentSource,
    Capability,
    Delegation,
    DelegationRevocation,
    Exemption,
    ExemptionEvent,
    ExemptionEventKind,
    Proposal,
)

PASSWORD = "correct-horse-battery-staple"
NOTE_CAPABILITY = "firestore.ops_note.append"


# -- brain --------------------------------------------------------------------------------


class StudioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Studio
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"studio-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    timezone = "Europe/London"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@studio.example")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    class Params:
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    studio = factory.SubFactory(StudioFactory)
    role = Role.VIEWER


class JobRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobRun

    name = "capture"
    studio = factory.SubFactory(StudioFactory)
    job_id = factory.Sequence(lambda n: f"job-{n}")
    status = JobRun.Status.SUCCEEDED
    started_at = factory.LazyFunction(timezone.now)


class CloudRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CloudRecord

    studio = factory.SubFactory(StudioFactory)
    source = CloudRecord.Source.FIRESTORE
    collection = "batches"
    doc_id = factory.Sequence(lambda n: f"doc-{n}")
    data = factory.LazyFunction(dict)
    content_hash = factory.LazyAttribute(lambda o: canonical_hash(o.data))
    read_at = factory.LazyFunction(timezone.now)
    first_seen_at = factory.LazyAttribute(lambda o: o.read_at)


class SnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Snapshot

    studio = factory.SubFactory(StudioFactory)
    kind = Snapshot.Kind.CAPTURE
    generated_at = factory.LazyFunction(timezone.now)
    snapshot_date = factory.LazyAttribute(
        lambda o: o.generated_at.date() if isinstance(o.generated_at, dt.datetime) else None
    )
    data_source = "demo"
    content = factory.LazyFunction(dict)
    content_hash = factory.LazyAttribute(lambda o: canonical_hash(o.content))
    completeness = "full"


# -- connectors ---------------------------------------------------------------------------


class ConnectorConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectorConfig

    studio = factory.SubFactory(StudioFactory)
    kind = "hubitat"
    name = factory.Sequence(lambda n: f"hub{n}")
    settings = factory.LazyFunction(dict)


class ConnectorCallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectorCall

    studio = factory.SubFactory(StudioFactory)
    config = factory.SubFactory(
        ConnectorConfigFactory, studio=factory.SelfAttribute("..studio"), kind="hubitat"
    )
    kind = "hubitat"
    operation = "read"
    outcome = "failed"
    input_hash = "sha256-utf8:" + "0" * 64


class ConnectorHealthFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectorHealth

    config = factory.SubFactory(ConnectorConfigFactory)
    checked_at = factory.LazyFunction(timezone.now)
    availability = ConnectorHealth.Availability.HEALTHY


class DeviceReadingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeviceReading

    config = factory.SubFactory(ConnectorConfigFactory)
    device_id = factory.Sequence(str)
    label = factory.LazyAttribute(lambda o: f"Device {o.device_id}")
    read_at = factory.LazyFunction(timezone.now)


# -- governance ---------------------------------------------------------------------------


class CapabilityFactory(factory.django.DjangoModelFactory):
    """A capability row the code's registry does not know (the registry syncs its own)."""

    class Meta:
        model = Capability

    id = factory.Sequence(lambda n: f"hubitat.device.retired{n}")
    target = "hubitat"
    description = "gone"
    mode = "write"
    risk = Risk.HIGH
    requires_approval = True
    approvals_required = 2
    owner = "x"
    rollback_plan = "x"
    escalation_path = "x"
    docs = "docs/domain.md"
    synced_at = factory.LazyFunction(timezone.now)


class ProposalFactory(factory.django.DjangoModelFactory):
    """A proposal row as the queue holds it; tests of behaviour submit through the service."""

    class Meta:
        model = Proposal

    studio = factory.SubFactory(StudioFactory)
    capability_id = NOTE_CAPABILITY
    status = ProposalStatus.PENDING_APPROVAL
    risk = Risk.MEDIUM
    approvals_required = 1
    input = factory.LazyFunction(lambda: {"batch_id": "b-1", "note": "Bisque moved to kiln 2"})
    input_hash = factory.LazyAttribute(lambda o: canonical_hash(o.input))
    rationale = "Kiln one is down for repairs"
    summary = factory.Sequence(lambda n: f"Add an ops note to batch b-{n}")
    expected_effects = factory.LazyFunction(lambda: ["One note"])
    requested_by_type = ActorType.AGENT
    requested_by_id = "ops-bot"
    created_at = factory.LazyFunction(timezone.now)
    submitted_at = factory.LazyAttribute(lambda o: o.created_at)
    expires_at = factory.LazyAttribute(lambda o: o.created_at + dt.timedelta(hours=72))
    updated_at = factory.LazyAttribute(lambda o: o.created_at)


class ExemptionFactory(factory.django.DjangoModelFactory):
    """An exemption row written around the services (the gateway must still refuse it)."""

    class Meta:
        model = Exemption

    studio = factory.SubFactory(StudioFactory)
    capability_id = NOTE_CAPABILITY
    justification = "Written straight into the table"
    created_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.created_at + dt.timedelta(days=1))
    requested_by = factory.SubFactory(UserFactory)


class ExemptionEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExemptionEvent

    exemption = factory.SubFactory(ExemptionFactory)
    kind = ExemptionEventKind.APPROVED
    actor = factory.SubFactory(UserFactory)
    occurred_at = factory.LazyFunction(timezone.now)


class AgentClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentClient

    studio = factory.SubFactory(StudioFactory)
    agent_id = factory.Sequence(lambda n: f"bot-{n}")
    source = AgentSource.CLOUD
    name = factory.LazyAttribute(lambda o: o.agent_id.replace("-", " ").title())
    owner_id = "owner-ada"
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyAttribute(lambda o: o.created_at)


class DelegationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delegation

    studio = factory.SubFactory(StudioFactory)
    source = AgentSource.CLOUD
    agent_id = "ops-bot"
    owner_id = "owner-ada"
    created_at = factory.LazyFunction(timezone.now)
    cloud_doc_id = factory.LazyAttributeSequence(
        lambda o, n: f"d-{o.agent_id}-{o.owner_id}-{n}-{o.created_at.timestamp()}"
    )
    scopes = factory.LazyFunction(lambda: [f"capability:{NOTE_CAPABILITY}:execute"])
    issued_at = factory.LazyAttribute(lambda o: o.created_at - dt.timedelta(days=1))
    expires_at = factory.LazyAttribute(lambda o: o.created_at + dt.timedelta(days=7))


class DelegationRevocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DelegationRevocation

    delegation = factory.SubFactory(DelegationFactory)
    revoked_by = factory.SubFactory(UserFactory)
    reason = "Left the studio"
    revoked_at = factory.LazyFunction(timezone.now)
