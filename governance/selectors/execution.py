"""Execution reads: a proposal's execution, and the kill switches with their derived state."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import (
    Case,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat

from governance.enums import ExecutionStatus, KillSwitchEventKind, KillSwitchScope
from governance.models import Execution, KillSwitch, KillSwitchEvent, Proposal


def proposal_execution(proposal: Proposal) -> Execution | None:
    """The proposal's execution (there is at most one), with its connector."""
    return Execution.objects.filter(proposal=proposal).select_related("connector").first()


def _latest_event(kind: KillSwitchEventKind, field: str = "pk") -> Subquery:
    return Subquery(
        KillSwitchEvent.objects.filter(switch=OuterRef("pk"), kind=kind)
        .order_by("-pk")
        .values(field)[:1]
    )


def kill_switch_states() -> QuerySet[KillSwitch]:
    """Every switch, each annotated with its derived state: ``last_engaged`` and
    ``last_released`` (event ids), the engaging event's ``engaged_reason``,
    ``engaged_label``, ``engaged_name`` and ``engaged_at``."""
    return KillSwitch.objects.select_related("studio", "connector").annotate(
        last_engaged=_latest_event(KillSwitchEventKind.ENGAGED),
        last_released=_latest_event(KillSwitchEventKind.RELEASE_CONFIRMED),
        engaged_reason=_latest_event(KillSwitchEventKind.ENGAGED, "reason"),
        engaged_label=_latest_event(KillSwitchEventKind.ENGAGED, "actor_label"),
        # The engaging person's name for the banner, in the same query ("" for agents).
        engaged_name=Subquery(
            KillSwitchEvent.objects.filter(switch=OuterRef("pk"), kind=KillSwitchEventKind.ENGAGED)
            .order_by("-pk")
            .annotate(
                name=Concat(
                    Coalesce("user__first_name", Value("")),
                    Value(" "),
                    Coalesce("user__last_name", Value("")),
                )
            )
            .values("name")[:1]
        ),
        engaged_at=_latest_event(KillSwitchEventKind.ENGAGED, "occurred_at"),
    )


ENGAGED = Q(last_engaged__isnull=False) & (
    Q(last_released__isnull=True) | Q(last_released__lt=F("last_engaged"))
)


def engaged_kill_switches() -> QuerySet[KillSwitch]:
    """The switches that are on now (their latest engagement was not confirmed released)."""
    return kill_switch_states().filter(ENGAGED)


SCOPE_ORDER = (
    KillSwitchScope.GLOBAL,
    KillSwitchScope.STUDIO,
    KillSwitchScope.CAPABILITY,
    KillSwitchScope.CONNECTOR,
)


def engaged_kill_switch(
    capability_id: str, *, studio_id: int | None = None, connector_id: int | None = None
) -> KillSwitch | None:
    """The switch stopping ``capability_id`` (in ``studio_id``, through ``connector_id``) now,
    or None. The broadest wins: global, then the studio, the capability, the connector.
    One query."""
    covers = Q(scope=KillSwitchScope.GLOBAL) | Q(
        scope=KillSwitchScope.CAPABILITY, capability_id=capability_id
    )
    if studio_id is not None:
        covers |= Q(scope=KillSwitchScope.STUDIO, studio_id=studio_id)
    if connector_id is not None:
        covers |= Q(scope=KillSwitchScope.CONNECTOR, connector_id=connector_id)
    breadth = Case(
        *(When(scope=scope, then=Value(rank)) for rank, scope in enumerate(SCOPE_ORDER)),
        output_field=IntegerField(),
    )
    return engaged_kill_switches().filter(covers).order_by(breadth, "pk").first()


def kill_switches_covering(studio_id: int) -> list[KillSwitch]:
    """Every engaged switch that stops anything in this studio (for the red banner).
    One query."""
    return list(
        engaged_kill_switches()
        .filter(
            Q(scope__in=(KillSwitchScope.GLOBAL, KillSwitchScope.CAPABILITY))
            | Q(studio_id=studio_id)
        )
        .order_by("scope", "pk")
    )


def kill_switch_list(studio_id: int | None = None) -> list[KillSwitch]:
    """Every switch (for one studio: the runtime-wide ones and this studio's), with its
    events prefetched and ``engaged`` / ``pending_request`` set from them."""
    qs = kill_switch_states().prefetch_related("events")
    if studio_id is not None:
        qs = qs.filter(Q(studio__isnull=True) | Q(studio_id=studio_id))
    rows = list(qs.order_by("scope", "capability_id", "pk"))
    for row in rows:
        engaged, pending = kill_switch_state(row)
        row.engaged = engaged
        row.pending_request = pending
    return rows


def kill_switch_state(switch: KillSwitch) -> tuple[bool, KillSwitchEvent | None]:
    """(on?, the open release request) from the switch's prefetched ``events``."""
    engaged = False
    pending: KillSwitchEvent | None = None
    for event in switch.events.all():
        if event.kind == KillSwitchEventKind.ENGAGED:
            engaged, pending = True, None
        elif event.kind == KillSwitchEventKind.RELEASE_REQUESTED and engaged:
            pending = event
        elif event.kind == KillSwitchEventKind.RELEASE_CONFIRMED:
            engaged, pending = False, None
    return engaged, pending


# A queued row whose task never arrived (a broker restart lost it) is sent again after this.
QUEUED_GRACE = timedelta(minutes=2)


def executions_lost(*, now: datetime) -> list[int]:
    """Executions still ``queued`` after ``QUEUED_GRACE``: their task message was lost."""
    return list(
        Execution.objects.filter(
            status=ExecutionStatus.QUEUED, queued_at__lt=now - QUEUED_GRACE
        ).values_list("pk", flat=True)
    )
