"""Stable reason codes with the plain-language explanation staff see.

A code is part of the contract with staff, scripts and agents: it never changes meaning
and is never reused. The explanation may be reworded.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    ALLOWED = "ALLOWED"
    # Registry and input
    CAPABILITY_UNKNOWN = "CAPABILITY_UNKNOWN"
    CAPABILITY_RETIRED = "CAPABILITY_RETIRED"
    INPUT_INVALID = "INPUT_INVALID"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    RATIONALE_REQUIRED = "RATIONALE_REQUIRED"
    # Who may do it
    ROLE_REQUIRED = "ROLE_REQUIRED"
    SELF_APPROVAL = "SELF_APPROVAL"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    TENANT_MISMATCH = "TENANT_MISMATCH"
    ACTOR_NOT_ALLOWED = "ACTOR_NOT_ALLOWED"
    # Proposal lifecycle
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    PROPOSAL_REJECTED = "PROPOSAL_REJECTED"
    PROPOSAL_EXPIRED = "PROPOSAL_EXPIRED"
    PROPOSAL_CAPABILITY_MISMATCH = "PROPOSAL_CAPABILITY_MISMATCH"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    INPUT_CHANGED = "INPUT_CHANGED"
    PROPOSAL_CANCELLED = "PROPOSAL_CANCELLED"
    NOT_REQUESTER = "NOT_REQUESTER"
    NOTHING_TO_WITHDRAW = "NOTHING_TO_WITHDRAW"
    BULK_NOT_ALLOWED = "BULK_NOT_ALLOWED"
    # Execution gateway (checked by governance.services.execution)
    WRITES_DISABLED = "WRITES_DISABLED"
    RATE_LIMITED = "RATE_LIMITED"
    BLOCKED_BY_POLICY = "BLOCKED_BY_POLICY"
    AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"
    EXECUTION_EXISTS = "EXECUTION_EXISTS"
    # Delegation (agents act under a staff owner's delegation)
    DELEGATION_MISSING = "DELEGATION_MISSING"
    DELEGATION_EXPIRED = "DELEGATION_EXPIRED"
    DELEGATION_REVOKED = "DELEGATION_REVOKED"
    DELEGATION_OWNER_MISMATCH = "DELEGATION_OWNER_MISMATCH"
    DELEGATION_ACTOR_MISMATCH = "DELEGATION_ACTOR_MISMATCH"
    DELEGATION_SCOPE_MISSING = "DELEGATION_SCOPE_MISSING"
    # Intake controls
    BLOCKED_BY_INTAKE_POLICY = "BLOCKED_BY_INTAKE_POLICY"
    # Quotas, exemptions, intake review (the policy layer)
    RATE_LIMIT_UNAVAILABLE = "RATE_LIMIT_UNAVAILABLE"
    EXEMPTION_NOT_ALLOWED = "EXEMPTION_NOT_ALLOWED"
    INTAKE_REASON_INVALID = "INTAKE_REASON_INVALID"
    # Staff memberships and connector configuration
    LAST_ADMIN = "LAST_ADMIN"
    CONNECTOR_IN_USE = "CONNECTOR_IN_USE"
    # Passkeys (sudo mode's step-up)
    PASSKEY_INVALID = "PASSKEY_INVALID"
    PASSKEY_REQUIRED = "PASSKEY_REQUIRED"


EXPLANATIONS: dict[ReasonCode, str] = {
    ReasonCode.ALLOWED: "Allowed: every check passed.",
    ReasonCode.CAPABILITY_UNKNOWN: (
        "The action is not in the capability registry, so nothing may run it."
    ),
    ReasonCode.CAPABILITY_RETIRED: (
        "The capability was retired from the registry; propose a current one."
    ),
    ReasonCode.INPUT_INVALID: "The input does not match what the capability accepts.",
    ReasonCode.TARGET_NOT_FOUND: (
        "The proposal names something this studio does not have (an order the mirror does "
        "not hold, a flag already resolved), so there is nothing to approve."
    ),
    ReasonCode.RATIONALE_REQUIRED: "A rationale of at least 10 characters is required.",
    ReasonCode.ROLE_REQUIRED: "Your role in this studio does not allow this.",
    ReasonCode.SELF_APPROVAL: "The person or agent who proposed a change can never approve it.",
    ReasonCode.ALREADY_DECIDED: "You have already decided on this proposal.",
    ReasonCode.TENANT_MISMATCH: "The proposal belongs to a different studio.",
    ReasonCode.ACTOR_NOT_ALLOWED: "Only staff members can decide on proposals.",
    ReasonCode.ILLEGAL_TRANSITION: "The proposal's current status does not allow this step.",
    ReasonCode.APPROVAL_REQUIRED: "The proposal has not been approved by enough approvers yet.",
    ReasonCode.PROPOSAL_REJECTED: "The proposal was rejected.",
    ReasonCode.PROPOSAL_EXPIRED: (
        "The proposal expired before a decision; submit it again if still needed."
    ),
    ReasonCode.PROPOSAL_CAPABILITY_MISMATCH: "The proposal was made for a different capability.",
    ReasonCode.APPROVAL_EXPIRED: (
        "The approval is older than the approval window; it must be approved again."
    ),
    ReasonCode.INPUT_CHANGED: "The input differs from the one that was approved.",
    ReasonCode.PROPOSAL_CANCELLED: "The person who submitted the proposal cancelled it.",
    ReasonCode.NOT_REQUESTER: "Only the staff member who submitted a proposal can cancel it.",
    ReasonCode.NOTHING_TO_WITHDRAW: (
        "You have no approval on this proposal's current round to withdraw."
    ),
    ReasonCode.BULK_NOT_ALLOWED: (
        "High and critical risk proposals are approved one at a time on their own page, "
        "never in bulk."
    ),
    ReasonCode.WRITES_DISABLED: "External writes are switched off on this runtime.",
    ReasonCode.RATE_LIMITED: "Too many calls of this capability in the current window.",
    ReasonCode.BLOCKED_BY_POLICY: "A kill switch blocks this capability.",
    ReasonCode.AUDIT_UNAVAILABLE: (
        "The audit record could not be written, so the action did not happen."
    ),
    ReasonCode.EXECUTION_EXISTS: (
        "This proposal has already been executed (or is executing); it runs only once."
    ),
    ReasonCode.DELEGATION_MISSING: "The agent has no delegation from a staff owner.",
    ReasonCode.DELEGATION_EXPIRED: "The agent's delegation has expired.",
    ReasonCode.DELEGATION_REVOKED: "The agent's delegation was revoked.",
    ReasonCode.DELEGATION_OWNER_MISMATCH: "The delegation belongs to a different staff owner.",
    ReasonCode.DELEGATION_ACTOR_MISMATCH: "The delegation was issued to a different agent.",
    ReasonCode.DELEGATION_SCOPE_MISSING: "The agent's delegation does not cover this capability.",
    ReasonCode.BLOCKED_BY_INTAKE_POLICY: (
        "The request falls in a blocked intake category and awaits review."
    ),
    ReasonCode.RATE_LIMIT_UNAVAILABLE: (
        "The quota store (Redis) cannot be reached, so nothing that counts against a quota "
        "may run until it is back."
    ),
    ReasonCode.EXEMPTION_NOT_ALLOWED: (
        "High and critical risk write capabilities can never be exempted from approval."
    ),
    ReasonCode.INTAKE_REASON_INVALID: (
        "An intake override needs a reason code from the intake policy: staff_override_* to "
        "let the request through, policy_* to keep it blocked."
    ),
    ReasonCode.LAST_ADMIN: (
        "A studio keeps at least one admin: add another admin before removing or demoting this one."
    ),
    ReasonCode.CONNECTOR_IN_USE: (
        "The connector has executions or a kill switch on record, which the audit trail "
        "keeps; disable it instead of removing it."
    ),
    ReasonCode.PASSKEY_INVALID: (
        "The passkey confirmation was not accepted (expired, already used, from another key or "
        "another site); nothing was done."
    ),
    ReasonCode.PASSKEY_REQUIRED: (
        "This studio accepts only a passkey for this step, not the password."
    ),
}


def explain(code: ReasonCode) -> str:
    return EXPLANATIONS[code]
