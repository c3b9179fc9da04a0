"""What a proposal names must exist: checks of a capability's targets against the mirror.

Schema validation (``validate_input``) says an input is well formed; these checks say it
names something the studio has — an order the mirror holds, a reconciliation flag still
open. A proposal that fails one is refused TARGET_NOT_FOUND with a message per field, so
staff see which value is wrong before anyone is asked to approve it. The write path runs
the same check again at execution (``governance.write_paths``): the cloud may have moved
on in between, and then nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from brain.models import CloudRecord, ReconciliationFlag
from governance.capabilities import CapabilityInput, ReconciliationAdjust
from governance.enums import ExecutionStatus
from governance.models import Execution

ADJUST = "finance.reconciliation.adjust"

# field name -> what is wrong with it, for staff
TargetProblems = dict[str, str]


def _reconciliation_adjust(studio_id: int, data: CapabilityInput) -> TargetProblems:
    assert isinstance(data, ReconciliationAdjust)
    problems: TargetProblems = {}
    in_mirror = CloudRecord.objects.filter(
        studio_id=studio_id,
        source=CloudRecord.Source.FIRESTORE,
        collection=data.order_collection,
        doc_id=data.order_id,
        deleted_at__isnull=True,
    ).exists()
    if not in_mirror:
        problems["order_id"] = (
            f"The mirror holds no {data.order_collection} order {data.order_id!r}; "
            "check the id, or capture the cloud again."
        )
    if data.action == "restore":
        adjusted = Execution.objects.filter(
            studio_id=studio_id,
            proposal__capability_id=ADJUST,
            status=ExecutionStatus.SUCCEEDED,
            result__action_id=data.reverts,
        ).exists()
        if not adjusted:
            problems["reverts"] = (
                f"No executed adjustment of this studio wrote {data.reverts!r}; "
                "only an executed adjustment can be withdrawn."
            )
        return problems
    flag = ReconciliationFlag.objects.filter(studio_id=studio_id, pk=data.flag_id).first()
    if flag is None:
        problems["flag_id"] = f"This studio has no reconciliation flag #{data.flag_id}."
        return problems
    if flag.resolved_at is not None:
        problems["flag_id"] = (
            f"Flag #{flag.pk} was resolved by the cloud on {flag.resolved_at:%Y-%m-%d %H:%M} UTC; "
            "there is nothing left to adjust."
        )
    if (flag.order_collection, flag.order_id, flag.flag_class) != (
        data.order_collection,
        data.order_id,
        data.flag,
    ):
        problems["flag"] = (
            f"Flag #{flag.pk} is {flag.flag_class} on {flag.order_collection} {flag.order_id}, "
            "not what this proposal names."
        )
    unknown = sorted(set(data.evidence) - set(flag.evidence))
    if unknown:
        problems["evidence"] = (
            f"Not evidence of flag #{flag.pk}: {', '.join(unknown)} "
            f"(its evidence is {', '.join(flag.evidence) or 'none'})."
        )
    return problems


CHECKS: dict[str, Callable[[int, CapabilityInput], TargetProblems]] = {
    ADJUST: _reconciliation_adjust,
}


def target_problems(capability_id: str, data: CapabilityInput, *, studio_id: int) -> TargetProblems:
    """What ``data`` names that this studio does not have (empty: everything exists)."""
    check = CHECKS.get(capability_id)
    return check(studio_id, data) if check else {}


__all__ = ["TargetProblems", "target_problems"]
