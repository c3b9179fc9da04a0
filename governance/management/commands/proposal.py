"""`manage.py proposal submit|approve|reject|reopen|execute|show|list`: the operator's and
scripts' way in.

Readable lines by default; `--json` prints one JSON document (docs/cli.md). A denial exits
1 with one line on stderr naming the reason code (with `--json`, the denial is the document:
`{"denied": true, "reason_code": ..., "message": ...}`); bad input exits 2.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import CommandParser

from brain.cli import UsageError
from brain.models import Studio
from governance.cli import GovernanceCommand, actor_from
from governance.enums import ProposalStatus
from governance.errors import Denied, ProposalNotFound
from governance.models import Execution, Proposal
from governance.schemas import ProposalDetailOut
from governance.selectors.audit import proposal_last_denial
from governance.selectors.execution import proposal_execution
from governance.selectors.proposals import ProposalFilters, approval_list, proposal_list
from governance.services.approvals import approval_grant, approval_reject
from governance.services.execution import proposal_execute
from governance.services.proposals import proposal_reopen, proposal_submit


def execution_json(execution: Execution | None) -> dict[str, Any] | None:
    if execution is None:
        return None
    return {
        "id": execution.pk,
        "status": execution.status,
        "idempotency_key": str(execution.idempotency_key),
        "connector": execution.connector.name,
        "operation": execution.operation,
        "target": execution.target,
        "queued_at": execution.queued_at,
        "started_at": execution.started_at,
        "finished_at": execution.finished_at,
        "replayed": execution.replayed,
        "reconciled": execution.reconciled,
        "result": execution.result,
        "output_hash": execution.output_hash,
        "pre_state_hash": execution.pre_state_hash,
        "post_state_hash": execution.post_state_hash,
        "error_code": execution.error_code,
        "error": execution.error,
    }


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    """The proposal as ``ProposalDetailOut`` renders it (the API's ``ProposalOut`` and more)."""
    return ProposalDetailOut.of(proposal).model_dump()


def proposal_line(proposal: dict[str, Any]) -> str:
    return (
        f"#{proposal['id']} {proposal['status']:<17} {proposal['capability']} "
        f"({proposal['risk']} risk, {proposal['approvals_required']} approval(s)) "
        f"by {proposal['requested_by']}: {proposal['summary']}"
    )


class Command(GovernanceCommand):
    help = "Submit, decide on and inspect proposals."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        submit = sub.add_parser("submit", help="propose a change through a capability")
        submit.add_argument("--studio", required=True)
        submit.add_argument("--capability", required=True)
        submit.add_argument(
            "--input", required=True, help="the capability's input as a JSON object"
        )
        submit.add_argument("--rationale", required=True)
        submit.add_argument(
            "--as", dest="actor", required=True, help="USERNAME, agent:ID or system:NAME"
        )
        submit.add_argument(
            "--snapshot", default="", help="the snapshot this proposal was based on"
        )
        for verb in ("approve", "reject"):
            decide = sub.add_parser(verb, help=f"{verb} a pending proposal")
            decide.add_argument("id", type=int)
            decide.add_argument("--as", dest="actor", required=True)
            decide.add_argument("--rationale", required=True)
        execute = sub.add_parser(
            "execute", help="run an approved proposal through the execution gateway"
        )
        execute.add_argument("id", type=int)
        execute.add_argument("--as", dest="actor", required=True)
        execute.add_argument(
            "--studio", default=None, help="the studio you act in (denied if not the proposal's)"
        )
        execute.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="wait up to this long for the worker to finish and print the outcome",
        )
        reopen = sub.add_parser("reopen", help="send a rejected proposal back for decision (admin)")
        reopen.add_argument("id", type=int)
        reopen.add_argument("--as", dest="actor", required=True)
        reopen.add_argument("--reason", required=True)
        show = sub.add_parser(
            "show", help="one proposal as JSON, with its approvals and last denial"
        )
        show.add_argument("id", type=int)
        listing = sub.add_parser("list", help="a studio's proposals as JSON lines")
        listing.add_argument("--studio", required=True)
        listing.add_argument("--status", default="", choices=["", *ProposalStatus.values])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _studio(self, slug: str) -> Studio:
        studio = Studio.objects.filter(slug=slug).first()
        if studio is None:
            raise UsageError(f"no studio {slug!r}")
        return studio

    def _submit(self, **options: Any) -> None:
        try:
            raw = json.loads(options["input"])
        except json.JSONDecodeError as error:
            raise UsageError(f"--input is not JSON: {error.msg} at character {error.pos}") from None
        if not isinstance(raw, dict):
            raise UsageError("--input must be a JSON object")
        proposal = proposal_submit(
            studio=self._studio(options["studio"]),
            capability_id=options["capability"],
            input=raw,
            rationale=options["rationale"],
            actor=actor_from(options["actor"]),
            based_on_snapshot=options["snapshot"],
        )
        submitted = proposal_json(proposal)
        self.emit(submitted, proposal_line(submitted))

    def _approve(self, **options: Any) -> None:
        approval = approval_grant(
            proposal_id=options["id"],
            actor=actor_from(options["actor"]),
            rationale=options["rationale"],
        )
        self._show(id=approval.proposal_id)

    def _reject(self, **options: Any) -> None:
        approval = approval_reject(
            proposal_id=options["id"],
            actor=actor_from(options["actor"]),
            rationale=options["rationale"],
        )
        self._show(id=approval.proposal_id)

    def _reopen(self, **options: Any) -> None:
        proposal = proposal_reopen(
            proposal_id=options["id"], actor=actor_from(options["actor"]), reason=options["reason"]
        )
        self._show(id=proposal.pk)

    def _execute(self, **options: Any) -> None:
        studio = self._studio(options["studio"]) if options.get("studio") else None
        try:
            execution = proposal_execute(
                proposal_id=options["id"], actor=actor_from(options["actor"]), studio=studio
            )
        except Denied as denial:
            self.emit({**denial.as_json(), "proposal": options["id"]})
            raise
        deadline = time.monotonic() + max(0.0, options["wait"])
        while not execution.is_finished and time.monotonic() < deadline:
            time.sleep(0.1)
            execution.refresh_from_db()
        report = {"allowed": True, "proposal": options["id"], **(execution_json(execution) or {})}
        self.emit(
            report,
            f"proposal #{options['id']}: execution #{execution.pk} {execution.status} "
            f"(idempotency key {execution.idempotency_key})",
        )

    def _show(self, **options: Any) -> None:
        proposal = Proposal.objects.select_related("studio").filter(pk=options["id"]).first()
        if proposal is None:
            raise ProposalNotFound(options["id"])
        payload = proposal_json(proposal)
        payload["approvals"] = [
            {
                "approver": a.approver.get_username(),
                "decision": a.decision,
                "round": a.decision_round,
                "input_hash": a.input_hash,
                "rationale": a.rationale,
                "at": a.created_at,
            }
            for a in approval_list(proposal)
        ]
        payload["last_denial"] = proposal_last_denial(proposal)
        payload["execution"] = execution_json(proposal_execution(proposal))
        lines = [proposal_line(payload), f"  studio {payload['studio']}, round {payload['round']}"]
        lines += [
            f"  {a['decision']} by {a['approver']} (round {a['round']}): {a['rationale']}"
            for a in payload["approvals"]
        ]
        if payload["last_denial"]:
            denial = payload["last_denial"]
            lines.append(f"  last denial: {denial.get('reason_code')} ({denial.get('action')})")
        if payload["execution"]:
            lines.append(
                f"  execution #{payload['execution']['id']} {payload['execution']['status']}"
            )
        self.emit(payload, lines)

    def _list(self, **options: Any) -> None:
        studio = self._studio(options["studio"])
        filters = ProposalFilters(status=options["status"])
        proposals = [
            proposal_json(proposal)
            for proposal in proposal_list(studio.pk, filters).select_related("studio")
        ]
        self.emit(
            {"studio": studio.slug, "proposals": proposals}, [proposal_line(p) for p in proposals]
        )
