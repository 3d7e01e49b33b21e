"""Slot arithmetic, the lower bound on the number of slots, and why a window is too short."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
    kinds = sorted({kind for need in needs for kind in need})
    for kind in kinds:
        for threshold in sorted(set(sizes)):
            groups = sum(
                1 for s, n in zip(sizes, needs, strict=True) if kind in n and s >= threshold
            )
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


def check_stations(
    sizes: Sequence[int], needs: Sequence[frozenset[str]], stations: Sequence[Station]
) -> None:
    """Refuse when a kind has no station in service, or a group fits none of its stations."""
    for kind in sorted({kind for need in needs for kind in need}):
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
