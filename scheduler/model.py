"""The planning vocabulary: what goes into a rotation plan and what comes out.

Times are minutes since midnight, so the core needs no clock and no time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from librarylab.errors import Problem


@dataclass(frozen=True)
class Station:
    """A station that can host one group per slot.

    ``capacity`` people use it at once; up to ``max_group`` can be at it together, taking
    turns (three people share a headset while the others watch the mirrored screen).
    """

    id: int
    name: str
    kind: str
    capacity: int
    max_group: int | None = None
    needs_staff: bool = False  # a staff member must supervise it while a group is there

    @cached_property  # read in the planner's innermost loops
    def seats(self) -> int:
        """The largest group that fits: ``max_group`` when set, else ``capacity``."""
        return max(self.max_group or self.capacity, self.capacity)

    def fits(self, size: int) -> bool:
        return size <= self.seats

    def turn_minutes(self, size: int, slot_minutes: int) -> int | None:
        """Each person's share of the slot when a group takes turns, rounded down; None when
        everyone uses the station at once."""
        if size <= self.capacity:
            return None
        return slot_minutes * self.capacity // size


@dataclass(frozen=True)
class Person:
    """A named participant; ``avoids`` lists kinds they must not do (e.g. no VR)."""

    name: str
    avoids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Busy:
    """A station unavailable in ``[start, end)``: booked by another visit, or broken."""

    station_id: int
    start: int
    end: int


@dataclass(frozen=True)
class Pin:
    """An assignment that must stay: group (0-based index) at a station in a slot."""

    group: int
    slot: int
    station_id: int


@dataclass(frozen=True)
class Request:
    """Everything the planner needs to know about one visit's hands-on block."""

    start: int
    end: int
    slot_minutes: int
    changeover_minutes: int
    kinds: tuple[str, ...]  # every group should meet each of these once
    stations: tuple[Station, ...]  # stations in service
    participants: int | tuple[Person, ...]
    group_count: int | None = None
    max_group_size: int | None = None
    pins: tuple[Pin, ...] = ()
    busy: tuple[Busy, ...] = ()
    accept_partial: bool = False
    time_limit_seconds: float = 2.0  # CP-SAT work; 0: the greedy's first valid plan
    staff_on_duty: int | None = None  # None: as many as it takes
    stations_per_staff: int = 1  # staffed stations one person supervises at once

    @property
    def staff_capacity(self) -> int | None:
        """How many stations that need staff can be in use in one slot; None: any number."""
        if self.staff_on_duty is None:
            return None
        return max(self.staff_on_duty, 0) * max(self.stations_per_staff, 1)

    @property
    def people_count(self) -> int:
        return self.participants if isinstance(self.participants, int) else len(self.participants)


@dataclass(frozen=True)
class Group:
    index: int
    name: str
    size: int
    members: tuple[str, ...] = ()
    avoids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Assignment:
    group: int
    station_id: int
    turn_minutes: int | None = None  # per person, when the group takes turns at the station


@dataclass(frozen=True)
class Slot:
    index: int
    start: int
    end: int
    assignments: tuple[Assignment, ...]
    staffed: int = 0  # stations in use that need staff
    staff_capacity: int | None = None  # how many staff could supervise then; None: no limit


@dataclass(frozen=True)
class Missing:
    """A group that does not meet a kind: the window is too short, or it left early."""

    group: int
    kind: str


@dataclass(frozen=True)
class Plan:
    groups: tuple[Group, ...]
    slots: tuple[Slot, ...]
    lower_bound_slots: int
    optimal: bool
    missing: tuple[Missing, ...] = ()
    engine: str = "greedy"  # which engine produced the assignments
    staff_on_duty: int | None = None  # when the request limited staff (after any left)
    stations_per_staff: int = 1
    supervised_visits: int = 0  # > 0: supervision sets the length; this many visits need it

    def station_at(self, group: int, slot: int) -> int | None:
        for assignment in self.slots[slot].assignments:
            if assignment.group == group:
                return assignment.station_id
        return None


@dataclass
class PlanningImpossible(Exception):
    """No plan meets every kind in the window; says why and what would fix it."""

    reason: Problem
    fixes: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return self.reason.message
