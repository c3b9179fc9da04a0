"""Governance rows, one module per sub-domain; importing them here makes them the app's models.

- ``proposals``: the capability mirror, proposals, approvals
- ``audit``: the hash chain (heads, events) and the signed digests
- ``execution``: executions and kill switches (with their events)
- ``policy``: exemptions, agents and their tokens, delegations, decisions, intake review
- ``passkeys``: staff WebAuthn credentials (the step-up of sudo mode)
"""

from governance.models.audit import AuditChainHead, AuditDigest, AuditEvent
from governance.models.execution import Execution, KillSwitch, KillSwitchEvent
from governance.models.passkeys import Passkey
from governance.models.policy import (
    AgentClient,
    AgentRequestKey,
    AgentSource,
    AgentToken,
    DecisionKind,
    DecisionTrace,
    Delegation,
    DelegationRevocation,
    Exemption,
    ExemptionEvent,
    ExemptionEventKind,
    ExemptionState,
    IntakeReview,
    IntakeStatus,
    PolicyDecision,
)
from governance.models.proposals import Approval, Capability, PendingProposal, Proposal

__all__ = [
    "AgentClient",
    "AgentRequestKey",
    "AgentSource",
    "AgentToken",
    "Approval",
    "AuditChainHead",
    "AuditDigest",
    "AuditEvent",
    "Capability",
    "DecisionKind",
    "DecisionTrace",
    "Delegation",
    "DelegationRevocation",
    "Execution",
    "Exemption",
    "ExemptionEvent",
    "ExemptionEventKind",
    "ExemptionState",
    "IntakeReview",
    "IntakeStatus",
    "KillSwitch",
    "KillSwitchEvent",
    "Passkey",
    "PendingProposal",
    "PolicyDecision",
    "Proposal",
]
