"""Slot arithmetic, the lower bound on the number of slots, and why a window is too short."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace

from librarylab.errors import Problem
from scheduler.model import PlanningImpossible, Station

KIND_NAMES = {"vr": "VR", "gaming": "gaming", "printing": "3D printing"}
MIN_SLOT_MINUTES = 5


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def slots_that_fit(window: int, slot: int, changeover: int) -> int:
    """How many slots of ``slot`` minutes, ``changeover`` apart, fit into ``window`` minutes."""
    if window < slot:
        return 0
    return (window + changeover) // (slot + changeover)


def minutes_needed(slots: int, slot: int, changeover: int) -> int:
    return slots * slot + max(slots - 1, 0) * changeover


@dataclass(frozen=True)
class Bound:
    """A lower bound on the slots, and the constraint that sets it."""

    slots: int
    kind: str | None = None  # None: bound by the number of kinds a group must meet
    groups: int = 0
    stations: int = 0
    supervised: int = 0  # > 0: bound by staff, this many visits need supervision
    staff_capacity: int = 0  # supervised stations in use per slot at most
    held: int = 0  # > 0: bound by (station, slot) pairs that other visits or outages hold
    places: int | None = None  # supervised places the block's free stations and staff allow


def _kinds(needs: Sequence[frozenset[str]]) -> list[str]:
    """Every kind some group needs, in a fixed order."""
    return sorted({kind for need in needs for kind in need})


def _needing(
    sizes: Sequence[int],
    needs: Sequence[frozenset[str]],
    kind: str,
    threshold: int,
    skip: Set[int] = frozenset(),
) -> int:
    """How many groups of at least ``threshold`` people need ``kind``, not counting ``skip``."""
    return sum(
        1
        for g, (size, need) in enumerate(zip(sizes, needs, strict=True))
        if kind in need and size >= threshold and g not in skip
    )


def lower_bound(
    sizes: Sequence[int],
    needs: Sequence[frozenset[str]],
    stations: Sequence[Station],
    staff_capacity: int | None = None,
) -> Bound:
    """Every group needs a slot per kind; the groups needing a kind share its stations.

    A group fits only stations with at least its size in seats (``Station.seats``), so for
    every size threshold the groups at least that big share the stations at least that big.
    A visit to a kind whose every fitting station needs staff takes one of the
    ``staff_capacity`` supervised places of its slot.
    """
    best = Bound(max((len(n) for n in needs), default=0))
    for kind in _kinds(needs):
        for threshold in sorted(set(sizes)):
            groups = _needing(sizes, needs, kind, threshold)
            fitting = sum(1 for st in stations if st.kind == kind and st.seats >= threshold)
            if groups and fitting:
                slots = math.ceil(groups / fitting)
                if slots > best.slots:
                    best = Bound(slots, kind, groups, fitting)
    if staff_capacity is not None:
        supervised = sum(
            1
            for size, need in zip(sizes, needs, strict=True)
            for kind in need
            if all(st.needs_staff for st in stations if st.kind == kind and st.seats >= size)
        )
        if supervised:
            # No staff at all: no full plan; the bound is then past any window.
            slots = math.ceil(supervised / staff_capacity) if staff_capacity else 10 * supervised
            if slots > best.slots:
                best = Bound(slots, supervised=supervised, staff_capacity=staff_capacity)
    return best


def held_bound(
    bound: Bound,
    sizes: Sequence[int],
    needs: Sequence[frozenset[str]],
    stations: Sequence[Station],
    blocked: Set[tuple[int, int]],
    *,
    first_free: int,
    window: int,
    staff_capacity: int | None = None,
    pinned: Mapping[tuple[int, int], int] | None = None,
) -> Bound:
    """Raise ``bound`` while stations held for some slots leave too few free places.

    ``lower_bound`` counts a station that another visit (or an outage) holds for part of the
    block as free throughout. Each group needing a kind takes one free (station, slot) pair
    of that kind with room for it, and each visit that needs supervision one of a slot's
    supervised places: no more than the staff can supervise, nor than the free stations
    that need staff (``pinned`` visits to such stations among them). The bound is the
    fewest slots after ``first_free`` whose free places are enough. ``blocked`` holds
    (station id, slot) pairs for the ``window`` slots; past them a plan does not fit anyway,
    so ``window - first_free + 1`` slots means: no full rotation in the window.
    """
    last: Bound | None = None  # the shortage at one slot fewer
    for slots in range(bound.slots, window - first_free + 1):
        short = _shortage(
            sizes,
            needs,
            stations,
            blocked,
            pinned or {},
            staff_capacity,
            first_free,
            first_free + slots,
        )
        if short is None:
            return bound if last is None else replace(last, slots=slots)
        last = short
    if last is None:  # the static bound is already past the window
        return bound
    return replace(last, slots=window - first_free + 1)


def _shortage(
    sizes: Sequence[int],
    needs: Sequence[frozenset[str]],
    stations: Sequence[Station],
    blocked: Set[tuple[int, int]],
    pinned: Mapping[tuple[int, int], int],
    staff_capacity: int | None,
    first: int,
    end: int,
) -> Bound | None:
    """What has too few free places in slots ``first`` to ``end - 1``, if anything."""
    for kind in _kinds(needs):
        for threshold in sorted(set(sizes)):
            groups = _needing(sizes, needs, kind, threshold)
            fitting = [st.id for st in stations if st.kind == kind and st.seats >= threshold]
            held = sum(1 for st in fitting for t in range(first, end) if (st, t) in blocked)
            if groups > len(fitting) * (end - first) - held:
                return Bound(end - first, kind, groups, len(fitting), held=held)
    if staff_capacity is None:
        return None
    return _staff_shortage(sizes, needs, stations, blocked, pinned, staff_capacity, first, end)


def _staff_shortage(
    sizes: Sequence[int],
    needs: Sequence[frozenset[str]],
    stations: Sequence[Station],
    blocked: Set[tuple[int, int]],
    pinned: Mapping[tuple[int, int], int],
    staff_capacity: int,
    first: int,
    end: int,
) -> Bound | None:
    """Too few supervised places for the visits that cannot avoid a station needing staff.

    Those are, per kind, the visits pinned to such a station, plus the groups of at least a
    size beyond the free places at stations of that size that need no staff. A slot has as
    many supervised places as the staff can supervise, and no more than its free stations
    that need staff.
    """
    by_id = {st.id: st for st in stations}
    pinned_to = {(g, by_id[s].kind): by_id[s] for (g, _t), s in pinned.items() if s in by_id}
    taken = {(s, t) for (_g, t), s in pinned.items()}
    supervised = 0
    staffed: set[int] = set()  # stations needing staff that such visits may use
    for kind in _kinds(needs):
        pins = sum(1 for (_g, k), st in pinned_to.items() if k == kind and st.needs_staff)
        pinned_here = {g for (g, k) in pinned_to if k == kind}
        most = 0
        for threshold in sorted(set(sizes)):
            groups = _needing(sizes, needs, kind, threshold, skip=pinned_here)
            unsupervised = sum(
                1
                for st in stations
                if st.kind == kind and st.seats >= threshold and not st.needs_staff
                for t in range(first, end)
                if (st.id, t) not in blocked and (st.id, t) not in taken
            )
            most = max(most, groups - unsupervised)
        if pins + most > 0:
            supervised += pins + most
            smallest = min(s for s, n in zip(sizes, needs, strict=True) if kind in n)
            staffed |= {
                st.id
                for st in stations
                if st.kind == kind and st.needs_staff and st.seats >= smallest
            }
    places = sum(
        min(staff_capacity, sum(1 for st in staffed if (st, t) not in blocked))
        for t in range(first, end)
    )
    if supervised > places:
        return Bound(
            end - first, supervised=supervised, staff_capacity=staff_capacity, places=places
        )
    return None


def check_stations(
    sizes: Sequence[int], needs: Sequence[frozenset[str]], stations: Sequence[Station]
) -> None:
    """Refuse when a kind has no station in service, or a group fits none of its stations."""
    for kind in _kinds(needs):
        of_kind = [st for st in stations if st.kind == kind]
        if not of_kind:
            raise PlanningImpossible(
                Problem("kind", "No {kind} station is in service.", {"kind": kind_name(kind)}),
                [
                    Problem(
                        "stations",
                        "Bring a {kind} station back into service.",
                        {"kind": kind_name(kind)},
                    ),
                    Problem(
                        "accept_partial", "Accept a plan without {kind}.", {"kind": kind_name(kind)}
                    ),
                ],
            )
        largest = max(st.seats for st in of_kind)
        too_big = [s for s, n in zip(sizes, needs, strict=True) if kind in n and s > largest]
        if too_big:
            raise PlanningImpossible(
                Problem(
                    "max_group_size",
                    "A group of {size} people does not fit any {kind} station "
                    "(the largest takes {capacity}).",
                    {"size": max(too_big), "kind": kind_name(kind), "capacity": largest},
                ),
                [
                    Problem(
                        "max_group_size",
                        "Make groups of at most {capacity} people.",
                        {"capacity": largest},
                    ),
                    Problem(
                        "stations",
                        "Raise the capacity of a {kind} station.",
                        {"kind": kind_name(kind)},
                    ),
                ],
            )


def window_too_short(
    bound: Bound, *, start: int, end: int, slot: int, changeover: int
) -> PlanningImpossible:
    """Explain that ``bound.slots`` slots do not fit between ``start`` and ``end``."""
    needed = minutes_needed(bound.slots, slot, changeover)
    window = end - start
    shape = {
        "slots": bound.slots,
        "slot": slot,
        "changeover": changeover,
        "needed": needed,
        "window": window,
    }
    fixes = [
        Problem(
            "hands_on_end", "Extend the hands-on block to {end}.", {"end": clock(start + needed)}
        )
    ]
    shorter = (window - (bound.slots - 1) * changeover) // bound.slots if bound.slots else 0
    if shorter >= MIN_SLOT_MINUTES:
        fixes.append(
            Problem("slot_minutes", "Shorten slots to {minutes} min.", {"minutes": shorter})
        )
    if bound.held or bound.places is not None:
        return _held(bound)
    if bound.supervised:
        return _short_of_staff(bound, fixes)
    if bound.kind is None:
        reason = Problem(
            "hands_on_end",
            "{slots} station kinds need {slots} slots of {slot} min + {changeover} min "
            "changeover = {needed} min, the hands-on block has {window} min.",
            shape,
        )
        other_fix = Problem("kinds", "Take out a kind.")
    else:
        reason = Problem(
            "hands_on_end",
            "{groups} groups share {stations} {kind} station(s): that needs {slots} slots of "
            "{slot} min + {changeover} min changeover = {needed} min, the hands-on block has "
            "{window} min.",
            shape
            | {"groups": bound.groups, "stations": bound.stations, "kind": kind_name(bound.kind)},
        )
        other_fix = Problem(
            "stations",
            "Bring another {kind} station into service.",
            {"kind": kind_name(bound.kind)},
        )
    fixes.append(other_fix)
    fixes.append(Problem("accept_partial", "Accept a partial plan (who misses what is listed)."))
    return PlanningImpossible(reason, fixes)


def _short_of_staff(bound: Bound, extend: list[Problem]) -> PlanningImpossible:
    """Staff on duty are the bottleneck: say so, and what would relieve them."""
    if bound.staff_capacity:
        reason = Problem(
            "staff_on_duty",
            "{visits} station visits need supervision and staff can supervise {capacity} "
            "station(s) at once: that needs {slots} slots, more than fit into the hands-on "
            "block.",
            {"visits": bound.supervised, "capacity": bound.staff_capacity, "slots": bound.slots},
        )
    else:
        reason = Problem(
            "staff_on_duty",
            "{visits} station visits need supervision, but no staff are on duty.",
            {"visits": bound.supervised},
        )
    fixes = [
        Problem("staff_on_duty", "Put one more person on duty."),
        *(extend if bound.staff_capacity else []),
        Problem("kinds", "Plan a kind whose stations need no supervision."),
        Problem("max_group_size", "Make fewer, larger groups."),
        Problem("accept_partial", "Accept a partial plan (who misses what is listed)."),
    ]
    return PlanningImpossible(reason, fixes)


def _held(bound: Bound) -> PlanningImpossible:
    """Free places in the block run out: held stations, or too few stations for the staff."""
    if bound.places is not None:
        return PlanningImpossible(
            Problem(
                "staff_on_duty",
                "{visits} station visits need supervision, but the staff on duty and the free "
                "stations that need it allow {places} in the hands-on block.",
                {"visits": bound.supervised, "places": bound.places},
            ),
            [
                Problem("staff_on_duty", "Put one more person on duty."),
                Problem("hands_on_end", "Extend the hands-on block."),
                Problem("kinds", "Plan a kind whose stations need no supervision."),
                Problem("accept_partial", "Accept a partial plan (who misses what is listed)."),
            ],
        )
    kind = {"kind": kind_name(bound.kind or "")}
    return PlanningImpossible(
        Problem(
            "hands_on_end",
            "{groups} groups need the {stations} {kind} station(s), but other visits or "
            "outages take up {held} of their slots in the hands-on block: no full rotation "
            "fits.",
            kind | {"groups": bound.groups, "stations": bound.stations, "held": bound.held},
        ),
        [
            Problem("hands_on_end", "Extend the hands-on block."),
            Problem("stations", "Bring another {kind} station into service.", kind),
            Problem("accept_partial", "Accept a partial plan (who misses what is listed)."),
        ],
    )
