"""The assignment problem for a fixed number of slots, and a fast greedy for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from scheduler.model import Station

# (group, slot) -> station id
Placement = dict[tuple[int, int], int]


@dataclass
class Instance:
    """Place each group at a station of each kind it needs, one station per slot.

    Slots before ``first_free`` are settled and not part of the problem.
    """

    slots: int
    sizes: list[int]
    needs: list[frozenset[str]]
    stations: list[Station]
    first_free: int = 0
    blocked: set[tuple[int, int]] = field(default_factory=set)  # (station id, slot)
    absent: set[tuple[int, int]] = field(default_factory=set)  # (group, slot)
    pinned: Placement = field(default_factory=dict)

    def can_host(self, g: int, t: int, station: Station) -> bool:
        return (
            station.kind in self.needs[g]
            and station.capacity >= self.sizes[g]
            and (station.id, t) not in self.blocked
            and (g, t) not in self.absent
        )

    def options(self) -> Iterator[tuple[int, int, int]]:
        """Every (group, slot, station) that breaks no rule on its own."""
        for g in range(len(self.sizes)):
            for t in range(self.first_free, self.slots):
                for station in self.stations:
                    if self.can_host(g, t, station):
                        yield g, t, station.id


def greedy(instance: Instance) -> Placement | None:
    """Slot by slot, fill the scarcest stations first with the groups that need them most.

    Returns a full placement, or None when the greedy gets stuck (the exact solver may not).
    """
    placement: Placement = dict(instance.pinned)
    todo = [set(need) for need in instance.needs]
    kind_of = {st.id: st.kind for st in instance.stations}
    for (g, _t), s in instance.pinned.items():
        todo[g].discard(kind_of[s])
    for t in range(instance.first_free, instance.slots):
        taken = {s for (_g, slot), s in placement.items() if slot == t}
        waiting = {g for g in range(len(todo)) if todo[g] and (g, t) not in placement}

        def scarcity(station: Station, waiting: set[int] = waiting) -> float:
            """Groups still needing this kind per station of it they fit."""
            needing = [g for g in waiting if station.kind in todo[g]]
            if not needing:
                return 0.0
            smallest = min(instance.sizes[g] for g in needing)
            supply = sum(
                1 for st in instance.stations if st.kind == station.kind and st.capacity >= smallest
            )
            return len(needing) / max(supply, 1)

        for station in sorted(
            (st for st in instance.stations if st.id not in taken),
            key=lambda st: (-scarcity(st), st.capacity, st.id),
        ):
            fitting = [
                g for g in waiting if station.kind in todo[g] and instance.can_host(g, t, station)
            ]
            if not fitting:
                continue
            # The group with most left to do, and the biggest (it fits fewest stations).
            g = max(fitting, key=lambda g: (len(todo[g]), instance.sizes[g], -g))
            placement[g, t] = station.id
            todo[g].discard(station.kind)
            waiting.discard(g)
        left = instance.slots - t - 1
        if any(len(need) > left for need in todo):
            return None
    return placement
