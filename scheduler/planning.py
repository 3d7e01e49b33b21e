"""Rotation plans: fewest slots first, proven where possible, explained where impossible.

The greedy's plan first (milliseconds, and proven optimal whenever it meets the lower bound);
then the exact CP-SAT solver looks for fewer slots in the gap the greedy leaves, within a
budget of solver work (not of time on the clock, so the same request gives the same plan).
A budget of 0 returns the greedy's plan at once. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from librarylab.errors import Problem
from scheduler import cpsat
from scheduler.bounds import (
    check_stations,
    held_bound,
    kind_name,
    lower_bound,
    slots_that_fit,
    window_too_short,
)
from scheduler.grouping import group_counts, make_groups, needs_of
from scheduler.instance import Instance, Placement, greedy
from scheduler.model import (
    Assignment,
    Busy,
    Group,
    Missing,
    Pin,
    Plan,
    PlanningImpossible,
    Request,
    Slot,
    Station,
)

END_OF_DAY = 24 * 60
MAX_GROUPINGS = 4  # group counts tried when the best by the bound does not fit
LEAST_WORK = 0.05  # seconds of solver work each call gets, even when the budget is spent


def slot_times(request: Request, count: int) -> list[tuple[int, int]]:
    step = request.slot_minutes + request.changeover_minutes
    return [
        (request.start + i * step, request.start + i * step + request.slot_minutes)
        for i in range(count)
    ]


def plan(request: Request) -> Plan:
    """A fresh plan for the whole hands-on block."""
    _check_request(request)
    first_failure: PlanningImpossible | None = None
    # Pins name groups of one grouping: keep to it.
    counts = group_counts(request)[: 1 if request.pins else MAX_GROUPINGS]
    for i, count in enumerate(counts):
        groups = make_groups(request, count)
        needs = [needs_of(request, g) for g in groups]
        if not request.accept_partial:
            check_stations([g.size for g in groups], needs, request.stations)
        try:
            found = _search(request, groups, needs, _Settled(), partial=False)
        except PlanningImpossible as impossible:
            first_failure = first_failure or impossible
            continue
        if found.optimal or request.time_limit_seconds <= 0:  # 0: the first plan, at once
            return found
        return _fewer_slots_elsewhere(request, found, counts[i + 1 :])
    if not request.accept_partial:
        assert first_failure is not None
        raise first_failure
    groups = make_groups(request, group_counts(request)[0])
    needs = [needs_of(request, g) for g in groups]
    return _search(request, groups, needs, _Settled(), partial=True)


def _fewer_slots_elsewhere(request: Request, found: Plan, others: Sequence[int]) -> Plan:
    """``found`` is above its bound and unproven: the greedy for the ``others`` group counts
    (ranked after it) may still reach fewer slots (milliseconds each). Such a plan is proven
    optimal when it is at its own bound and that bound is no higher than ``found``'s."""
    best = found
    for other in others:
        groups = make_groups(request, other)
        needs = [needs_of(request, g) for g in groups]
        try:
            quick = _search(request, groups, needs, _Settled(), partial=False, greedy_only=True)
        except (PlanningImpossible, _NoGreedyPlan):
            continue
        if len(quick.slots) < len(best.slots):
            proven = quick.optimal and quick.lower_bound_slots <= found.lower_bound_slots
            best = replace(quick, optimal=proven)
    return best


class _NoGreedyPlan(Exception):
    """The greedy found no full plan in the window."""


def replan(
    request: Request,
    previous: Plan,
    *,
    at: int,
    station_out: int | None = None,
    station_back: Station | None = None,
    group_leaves: int | None = None,
    staff_leaves: int = 0,
) -> Plan:
    """Re-plan the slots that start at ``at`` or later; started slots stay as they were.

    A station that broke is unavailable from ``at``; a group at it in the running slot has
    not finished that kind and gets it again later if possible. The new plan keeps as much
    of the previous one as it can, and lists who misses what when not everything fits.
    Staff who leave (``staff_leaves`` people) are missing from the slots that start at ``at``
    or later.
    """
    _check_request(request)
    stations = list(request.stations)
    if station_back is not None and all(s.id != station_back.id for s in stations):
        stations.append(station_back)
    busy = list(request.busy)
    if station_out is not None:
        if all(s.id != station_out for s in stations):
            raise PlanningImpossible(
                Problem(
                    "station_out",
                    "Station {id} is not one of the lab's stations.",
                    {"id": station_out},
                )
            )
        busy.append(Busy(station_out, at, END_OF_DAY))
    groups = list(previous.groups)
    first_free = sum(1 for start, _end in slot_times(request, len(previous.slots)) if start < at)
    settled = _Settled(first_free=first_free, slots=previous.slots[:first_free])
    for slot in settled.slots:
        for a in slot.assignments:
            interrupted = a.station_id == station_out and slot.end > at
            if not interrupted:
                settled.met.add((a.group, _kind(stations, a.station_id)))
    if group_leaves is not None:
        settled.leaving = {group_leaves}
    keep = {
        (a.group, slot.index): a.station_id
        for slot in previous.slots[first_free:]
        for a in slot.assignments
    }
    needs = [needs_of(request, g) for g in groups]
    staff = request.staff_on_duty
    if staff_leaves and staff is not None:
        staff = max(staff - staff_leaves, 0)
    adjusted = replace(request, stations=tuple(stations), busy=tuple(busy), staff_on_duty=staff)
    return _search(adjusted, groups, needs, settled, partial=True, keep=keep)


@dataclass
class _Settled:
    """What a re-plan cannot change: started slots and the kinds met in them."""

    first_free: int = 0
    slots: Sequence[Slot] = ()
    met: set[tuple[int, str]] = field(default_factory=set)
    leaving: set[int] = field(default_factory=set)


def _kind(stations: Iterable[Station], station_id: int) -> str:
    return next((s.kind for s in stations if s.id == station_id), "")


def _check_request(request: Request) -> None:
    if request.people_count < 1:
        raise PlanningImpossible(
            Problem("participants", "The visit has no participants: enter how many come."),
            [Problem("participants", "Set the number of participants of the visit.")],
        )
    window = request.end - request.start
    if request.slot_minutes < 1 or request.changeover_minutes < 0:
        raise PlanningImpossible(
            Problem(
                "slot_minutes", "Slots must last at least a minute; changeover cannot be negative."
            )
        )
    if window < request.slot_minutes:
        raise PlanningImpossible(
            Problem(
                "hands_on_end",
                "The hands-on block ({window} min) is shorter than one slot ({slot} min).",
                {"window": window, "slot": request.slot_minutes},
            ),
            [Problem("slot_minutes", "Shorten slots to {minutes} min.", {"minutes": window})],
        )


def _search(
    request: Request,
    groups: list[Group],
    needs: list[frozenset[str]],
    settled: _Settled,
    *,
    partial: bool,
    keep: Placement | None = None,
    greedy_only: bool = False,
) -> Plan:
    window_slots = slots_that_fit(
        request.end - request.start, request.slot_minutes, request.changeover_minutes
    )
    todo = [frozenset(k for k in need if (g, k) not in settled.met) for g, need in enumerate(needs)]
    first_free = settled.first_free
    times = slot_times(request, max(window_slots, first_free))
    absent = {(g, t) for g in settled.leaving for t in range(first_free, len(times))}
    sizes = [g.size for g in groups]
    pinned = _pins(request.pins, groups, first_free, window_slots)
    active_todo = [frozenset() if g in settled.leaving else need for g, need in enumerate(todo)]
    usable = [s for s in request.stations if not _always_busy(s, request, times[first_free:])]
    bound = lower_bound(sizes, active_todo, usable, request.staff_capacity)
    bound = held_bound(
        bound,
        sizes,
        active_todo,
        request.stations,
        _blocked(request, times),
        first_free=first_free,
        window=window_slots,
        staff_capacity=request.staff_capacity,
        pinned=pinned,
    )
    lowest = first_free + bound.slots if any(active_todo) else first_free
    lowest = max(lowest, max((t + 1 for (_g, t) in pinned), default=0))

    def instance(slots: int, goals: list[frozenset[str]]) -> Instance:
        return Instance(
            slots=slots,
            sizes=sizes,
            needs=goals,
            stations=list(request.stations),
            first_free=first_free,
            blocked=_blocked(request, times[:slots]),
            absent=absent,
            pinned=pinned,
            staff=request.staff_capacity,
        )

    def assemble(slots: int, placement: Placement, optimal: bool, engine: str) -> Plan:
        made = _assemble(
            groups, settled, times[:slots], placement, lowest, optimal, engine, request, needs
        )
        if bound.supervised and slots == lowest == first_free + bound.slots and not made.missing:
            # The plan is as short as supervision allows: say so on the plan.
            return replace(made, supervised_visits=bound.supervised)
        return made

    _check_pins(instance(window_slots, active_todo), groups)
    # The first valid plan: the greedy's (milliseconds). Its choices in a slot do not depend
    # on how many slots follow, so one run over the window is the plan in the fewest slots
    # it can reach.
    first: tuple[int, Placement] | None = None
    placement = greedy(instance(window_slots, active_todo)) if lowest <= window_slots else None
    if placement is not None:
        used = max((t + 1 for (_g, t) in placement), default=first_free)
        first = max(used, lowest), placement
    if greedy_only and first is None:
        raise _NoGreedyPlan
    left = 0 if greedy_only else request.time_limit_seconds  # see cpsat.WORK_PER_SECOND
    if first is not None and ((first[0] == lowest and not keep) or left <= 0):
        return assemble(*first, optimal=first[0] == lowest, engine="greedy")
    # CP-SAT for fewer slots than the greedy needed; for a re-plan also at the greedy's
    # count, to keep most of the previous plan.
    top = window_slots if first is None else first[0] if keep else first[0] - 1
    proven_below = True
    for slots in range(lowest, top + 1):
        if first is not None and left <= 0 and slots < first[0]:
            proven_below = False  # budget spent: the greedy's plan stands unproven
            continue
        hint = first[1] if first is not None and slots == first[0] else None
        answer = cpsat.solve(
            instance(slots, active_todo), keep=keep, hint=hint, seconds=max(left, LEAST_WORK)
        )
        left -= answer.seconds
        if answer.outcome is cpsat.Outcome.INFEASIBLE:
            continue
        if answer.placement is None:
            proven_below = False
            continue
        return assemble(slots, answer.placement, slots == lowest or proven_below, "cp-sat")
    if first is not None:
        return assemble(*first, optimal=proven_below, engine="greedy")
    if not partial:
        if lowest > window_slots:
            raise window_too_short(
                bound,
                start=request.start,
                end=request.end,
                slot=request.slot_minutes,
                changeover=request.changeover_minutes,
            )
        raise PlanningImpossible(
            Problem(
                "hands_on_end",
                "No full rotation fits into {slots} slots with the stations free then "
                "(other visits on the same day, pins, stations out of service).",
                {"slots": window_slots},
            ),
            [
                Problem("pins", "Remove pins."),
                Problem("hands_on_end", "Extend the hands-on block."),
                Problem("accept_partial", "Accept a partial plan (who misses what is listed)."),
            ],
        )
    slots = max(window_slots, first_free)
    candidate = instance(slots, active_todo)
    answer = cpsat.solve(
        candidate, partial=True, keep=None, hint=keep, seconds=max(left, LEAST_WORK)
    )
    placement = answer.placement if answer.placement is not None else dict(pinned)
    return _assemble(
        groups, settled, times[:slots], placement, lowest, False, "cp-sat", request, needs
    )


def _always_busy(station: Station, request: Request, times: Sequence[tuple[int, int]]) -> bool:
    return bool(times) and all(
        any(b.station_id == station.id and b.start < end and start < b.end for b in request.busy)
        for start, end in times
    )


def _blocked(request: Request, times: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    return {
        (b.station_id, t)
        for b in request.busy
        for t, (start, end) in enumerate(times)
        if b.start < end and start < b.end
    }


def _pins(pins: Sequence[Pin], groups: Sequence[Group], first_free: int, slots: int) -> Placement:
    placement: Placement = {}
    for pin in pins:
        if not 0 <= pin.group < len(groups) or not 0 <= pin.slot < slots:
            raise PlanningImpossible(
                Problem(
                    "pins",
                    "A pin names group {group} in slot {slot}, which the plan does not have.",
                    {"group": pin.group + 1, "slot": pin.slot + 1},
                ),
                [Problem("pins", "Remove that pin.")],
            )
        if pin.slot < first_free:
            continue  # started slots stay as they are anyway
        if (pin.group, pin.slot) in placement or any(
            t == pin.slot and s == pin.station_id for (_g, t), s in placement.items()
        ):
            raise PlanningImpossible(
                Problem(
                    "pins",
                    "Two pins claim the same group or station in slot {slot}.",
                    {"slot": pin.slot + 1},
                ),
                [Problem("pins", "Remove one of the two pins.")],
            )
        placement[pin.group, pin.slot] = pin.station_id
    return placement


def _check_pins(instance: Instance, groups: Sequence[Group]) -> None:
    """Each pin on its own must be possible; say which one is not and why."""
    stations = {s.id: s for s in instance.stations}
    kinds_pinned: set[tuple[int, str]] = set()
    for (g, t), station_id in sorted(instance.pinned.items()):
        station = stations.get(station_id)
        where = {"group": groups[g].name, "slot": t + 1}
        if station is None:
            reason = Problem(
                "pins",
                "Group {group} is pinned in slot {slot} to a station that is not in service.",
                where,
            )
        elif not station.fits(groups[g].size):
            reason = Problem(
                "pins",
                "Group {group} ({size} people) is pinned to {station}, which takes {capacity}.",
                where
                | {"size": groups[g].size, "station": station.name, "capacity": station.seats},
            )
        elif station.kind not in instance.needs[g] or (g, station.kind) in kinds_pinned:
            reason = Problem(
                "pins",
                "Group {group} is pinned to {station} in slot {slot}, but "
                "does not need (another) {kind} visit.",
                where | {"station": station.name, "kind": kind_name(station.kind)},
            )
        elif not instance.can_host(g, t, station):
            reason = Problem(
                "pins",
                "{station} is busy in slot {slot}, where group {group} is pinned.",
                where | {"station": station.name},
            )
        else:
            kinds_pinned.add((g, station.kind))
            continue
        raise PlanningImpossible(reason, [Problem("pins", "Remove that pin.")])
    if instance.staff is None:
        return
    staffed = instance.staffed()
    for t in sorted({t for (_g, t) in instance.pinned}):
        pinned = sum(1 for (_g, u), s in instance.pinned.items() if u == t and s in staffed)
        if pinned > instance.staff:
            raise PlanningImpossible(
                Problem(
                    "pins",
                    "Slot {slot} has {pinned} pins at stations that need supervision; staff "
                    "can supervise {capacity} at once.",
                    {"slot": t + 1, "pinned": pinned, "capacity": instance.staff},
                ),
                [
                    Problem("pins", "Remove one of those pins."),
                    Problem("staff_on_duty", "Put one more person on duty."),
                ],
            )


def _turn(station: Station | None, size: int, slot_minutes: int) -> int | None:
    return station.turn_minutes(size, slot_minutes) if station is not None else None


def _assemble(
    groups: Sequence[Group],
    settled: _Settled,
    times: Sequence[tuple[int, int]],
    placement: Placement,
    lowest: int,
    optimal: bool,
    engine: str,
    request: Request,
    needs: Sequence[frozenset[str]],
) -> Plan:
    slots = list(settled.slots)
    by_id = {s.id: s for s in request.stations}
    for t in range(len(settled.slots), len(times)):
        start, end = times[t]
        here = sorted((g, s) for (g, slot), s in placement.items() if slot == t)
        slots.append(
            Slot(
                t,
                start,
                end,
                tuple(
                    Assignment(g, s, _turn(by_id.get(s), groups[g].size, end - start))
                    for g, s in here
                ),
                staffed=sum(1 for _g, s in here if s in by_id and by_id[s].needs_staff),
                staff_capacity=request.staff_capacity,
            )
        )
    # Drop trailing slots nobody uses (a partial plan may not need the whole window).
    while slots and len(slots) > len(settled.slots) and not slots[-1].assignments:
        slots.pop()
    kind_of = {s.id: s.kind for s in request.stations}
    met = set(settled.met)
    for slot in slots[len(settled.slots) :]:
        for a in slot.assignments:
            met.add((a.group, kind_of.get(a.station_id, "")))
    missing = tuple(
        Missing(g, kind)
        for g, need in enumerate(needs)
        for kind in sorted(need)
        if (g, kind) not in met
    )
    return Plan(
        groups=tuple(groups),
        slots=tuple(slots),
        lower_bound_slots=lowest,
        optimal=optimal and not missing,
        missing=missing,
        engine=engine,
        staff_on_duty=request.staff_on_duty,
        stations_per_staff=request.stations_per_staff,
    )
