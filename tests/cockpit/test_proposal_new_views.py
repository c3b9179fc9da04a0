"""New proposal: choose a capability, fill in its generated form, see the JSON preview;
targets the studio does not have are refused on their field. Lookups are studio-scoped."""

import pytest
from django.urls import reverse

from governance.models import Proposal
from tests.factories import ConnectorConfigFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
HUB = {"host": "http://192.168.1.20", "app_id": 7, "command_allowlist": {"103": ["on", "off"]}}


def url(name, *args, studio="north-kiln"):
    return reverse(f"cockpit:{name}", args=[studio, *args])


@pytest.fixture
def hub(staff):
    return ConnectorConfigFactory(studio=staff.studio, kind="hubitat", name="hub1", settings=HUB)


def test_step_one_offers_the_write_capabilities_by_area(staff, login):
    response = login(staff.operator).get(url("proposal_new"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Batches and ops notes" in body and "Hubitat devices" in body
    assert 'value="firestore.ops_note.append"' in body
    assert 'value="hubitat.devices.read"' not in body  # reads need no proposal
    assert login(staff.viewer).get(url("proposal_new")).status_code == 403
    assert login(staff.outsider).get(url("proposal_new")).status_code == 404


def test_the_queue_links_to_new_proposal_for_operators_only(staff, login):
    link = f'href="{url("proposal_new")}"'
    assert link in login(staff.operator).get(url("proposals")).content.decode()
    assert link not in login(staff.viewer).get(url("proposals")).content.decode()


def test_an_ops_note_form_has_fields_a_datalist_of_batches_and_a_preview(staff, login):
    client = login(staff.operator)
    response = client.get(url("proposal_new"), {"capability": "firestore.ops_note.append"})
    form = response.context["input_form"]
    assert list(form.fields) == ["batch_id", "note"]
    body = response.content.decode()
    assert 'list="batch_id-options"' in body and '<option value="batch-42">' in body
    preview = client.get(
        url("proposal_new_preview"),
        {"capability": "firestore.ops_note.append", "in-batch_id": "b1", "in-note": "Kiln 2 now"},
        **HX,
    ).content.decode()
    assert "Add an ops note to batch b1" in preview
    assert "&quot;batch_id&quot;: &quot;b1&quot;" in preview


def test_an_ops_note_is_submitted_from_the_fields(staff, login):
    response = login(staff.operator).post(
        url("proposal_new"),
        {
            "capability": "firestore.ops_note.append",
            "in-batch_id": "batch-42",
            "in-note": "Bisque load moved to kiln 2",
            "rationale": "Kiln one is down",
        },
    )
    proposal = Proposal.objects.get()
    assert response.status_code == 302 and response["Location"] == url(
        "proposal_detail", proposal.pk
    )
    assert proposal.input == {"batch_id": "batch-42", "note": "Bisque load moved to kiln 2"}


def test_a_batch_not_in_the_mirror_is_an_error_on_its_field(staff, login):
    response = login(staff.operator).post(
        url("proposal_new"),
        {
            "capability": "firestore.ops_note.append",
            "in-batch_id": "nope-1",
            "in-note": "Bisque load moved to kiln 2",
            "rationale": "Kiln one is down",
        },
        **HX,
    )
    assert response.status_code == 422
    assert response.content.decode().lstrip().startswith('<form id="proposal-form"')
    errors = response.context["input_form"].errors
    assert "The mirror holds no batch 'nope-1'" in errors["batch_id"][0]
    assert not Proposal.objects.exists()


def test_a_hubitat_command_offers_the_studios_connectors_and_their_devices(staff, login, hub):
    ConnectorConfigFactory(studio=staff.other_studio, kind="hubitat", name="far-hub", settings=HUB)
    response = login(staff.operator).get(
        url("proposal_new"), {"capability": "hubitat.device.command"}
    )
    fields = response.context["input_form"].fields
    assert [v for v, _ in fields["connector"].choices if v] == ["hub1"]
    assert [v for v, _ in fields["device_id"].choices if v] == ["103"]
    assert [v for v, _ in fields["command"].choices if v] == ["on", "off"]
    refused = login(staff.operator).post(
        url("proposal_new"),
        {
            "capability": "hubitat.device.command",
            "in-connector": "far-hub",
            "in-device_id": "103",
            "in-command": "on",
            "rationale": "Heat the glaze room",
        },
    )
    assert refused.status_code == 422
    assert "Select a valid choice" in refused.context["input_form"].errors["connector"][0]


def test_the_lookup_is_studio_scoped_and_answers_json_or_options(staff, login):
    client = login(staff.operator)
    data = client.get(url("proposal_lookup", "batch"), {"q": "batch-4", "format": "json"}).json()
    assert data == {"results": [{"value": "batch-42", "label": "Batch batch-42"}]}
    options = client.get(url("proposal_lookup", "batch"), {"in-batch_id": "b-"}, **HX)
    assert options.content.decode().count("<option") == 2  # b-1, b-7
    assert client.get(url("proposal_lookup", "users")).status_code == 404
    assert login(staff.viewer).get(url("proposal_lookup", "batch")).status_code == 403
    assert login(staff.outsider).get(url("proposal_lookup", "batch")).status_code == 404


def test_the_form_costs_the_same_queries_for_5_or_50_batches_and_connectors(staff, login, hub):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import CloudRecordFactory

    client = login(staff.operator)

    def cost(capability):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url("proposal_new"), {"capability": capability}).status_code == 200
        return len(queries)

    few = cost("firestore.ops_note.append"), cost("hubitat.device.command")
    for index in range(50):
        CloudRecordFactory(studio=staff.studio, collection="batches", doc_id=f"load-{index}")
        ConnectorConfigFactory(
            studio=staff.studio, kind="hubitat", name=f"hub-{index}", settings=HUB
        )
    many = cost("firestore.ops_note.append"), cost("hubitat.device.command")
    assert many == few
