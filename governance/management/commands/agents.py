"""``manage.py agents sync --studio S`` and ``manage.py agents list --studio S``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from brain.cli import UsageError
from brain.models import Studio
from governance.cli import GovernanceCommand
from governance.selectors.policy import agent_list, delegation_list
from governance.services.agents import agents_sync_from_mirror


class Command(GovernanceCommand):
    help = "Refresh agents and delegations from the cloud mirror, or list them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("sync", "mirror the cloud's agentClients and delegations into local rows"),
            ("list", "print the studio's agents, tokens (prefix only) and delegations"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("--studio", required=True, help="studio slug")

    def handle(self, *args: Any, action: str, studio: str, **options: Any) -> None:
        found = Studio.objects.filter(slug=studio).first()
        if found is None:
            raise UsageError(f"no studio {studio!r}")
        if action == "sync":
            counts = agents_sync_from_mirror(studio=found)
            self.emit(
                {"studio": found.slug, "synced": counts},
                f"synced {found.slug}: "
                + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items()),
            )
            return
        lines: list[str] = []
        agents: list[dict[str, Any]] = []
        for agent in agent_list(found.pk):
            state = "active" if agent.is_active else "disabled"
            lines.append(
                f"agent {agent.agent_id} ({agent.source}, {state}) owner {agent.owner_id}: "
                f"{agent.name}"
            )
            tokens = []
            for token in agent.tokens.all():
                status = "revoked" if token.revoked_at else f"expires {token.expires_at:%Y-%m-%d}"
                lines.append(f"  token sbk_{token.prefix}_… {status}")
                tokens.append(
                    {
                        "prefix": token.prefix,
                        "expires_at": token.expires_at,
                        "revoked_at": token.revoked_at,
                    }
                )
            agents.append(
                {
                    "agent_id": agent.agent_id,
                    "name": agent.name,
                    "source": agent.source,
                    "active": agent.is_active,
                    "owner": agent.owner_id,
                    "tokens": tokens,
                }
            )
        delegations: list[dict[str, Any]] = []
        for row in delegation_list(found.pk):
            delegation = row.delegation
            lines.append(
                f"delegation #{delegation.pk} {delegation.owner_id} → {delegation.agent_id} "
                f"[{row.state}] {' '.join(delegation.scopes)}"
            )
            delegations.append(
                {
                    "id": delegation.pk,
                    "owner": delegation.owner_id,
                    "agent_id": delegation.agent_id,
                    "state": row.state,
                    "scopes": list(delegation.scopes),
                }
            )
        self.emit({"studio": found.slug, "agents": agents, "delegations": delegations}, lines)
