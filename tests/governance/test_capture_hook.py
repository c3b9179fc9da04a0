"""After a capture commits, brain's signal makes governance refresh agents and delegations
from the mirror (brain never imports governance)."""

import json

import pytest

from brain.services.snapshots import snapshot_capture
from brain.signals import studio_state_captured
from brain.state.demo import generate
from brain.state.sources import DemoSource
from governance.models import AgentClient, Delegation

pytestmark = pytest.mark.django_db


STAMP = "2026-11-20T09:00:00.000000Z"


def cloud_with_an_agent(directory):
    """The demo cloud plus one agent and its delegation, as Firestore documents."""
    demo = generate(studio="north-kiln", size="small", seed=1)
    demo.firestore["documents"] += [
        {
            "name": "agentClients/ops-bot",
            "fields": {
                "name": {"stringValue": "Ops Bot"},
                "owner": {"stringValue": "owner-ada"},
                "status": {"stringValue": "active"},
            },
            "createTime": STAMP,
            "updateTime": STAMP,
        },
        {
            "name": "delegations/del-1",
            "fields": {
                "agent": {"stringValue": "ops-bot"},
                "owner": {"stringValue": "owner-ada"},
                "scopes": {
                    "arrayValue": {
                        "values": [{"stringValue": "capability:firestore.ops_note.append:execute"}]
                    }
                },
                "issued_at": {"timestampValue": "2026-11-01T00:00:00Z"},
                "expires_at": {"timestampValue": "2026-12-31T00:00:00Z"},
            },
            "createTime": STAMP,
            "updateTime": STAMP,
        },
    ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "firestore.json").write_text(json.dumps(demo.firestore))
    (directory / "stripe.json").write_text(json.dumps(demo.stripe))
    return DemoSource(directory)


def test_a_committed_capture_syncs_agents_and_delegations_from_the_mirror(
    staff, tmp_path, django_capture_on_commit_callbacks
):
    source = cloud_with_an_agent(tmp_path)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        snapshot_capture(studio=staff.studio, source=source)
    assert not AgentClient.objects.exists()  # nothing before the capture has committed
    for callback in callbacks:
        callback()
    agent = AgentClient.objects.get(studio=staff.studio, agent_id="ops-bot")
    assert agent.owner_id == "owner-ada"
    assert Delegation.objects.filter(studio=staff.studio, cloud_doc_id="del-1").exists()


def test_a_failing_receiver_does_not_fail_the_capture(
    staff, tmp_path, django_capture_on_commit_callbacks, json_logs
):
    def broken(sender, studio, **kwargs):
        raise RuntimeError("receiver broke")

    studio_state_captured.connect(broken, dispatch_uid="test.broken")
    try:
        source = cloud_with_an_agent(tmp_path)
        with django_capture_on_commit_callbacks(execute=True):
            result = snapshot_capture(studio=staff.studio, source=source)
    finally:
        studio_state_captured.disconnect(dispatch_uid="test.broken")
    assert result.created
    assert json_logs.events("studio_state.receiver_failed")
    # The other receiver (governance's sync) still ran.
    assert AgentClient.objects.filter(agent_id="ops-bot").exists()
