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
    staff: int | None = None  # stations that need staff in use per slot at most; None: any

    def staffed(self) -> set[int]:
        """The ids of the stations that count against ``staff``."""
        return {st.id for st in self.stations if st.needs_staff}

    def can_host(self, g: int, t: int, station: Station) -> bool:
        return (
            station.kind in self.needs[g]
            and station.seats >= self.sizes[g]
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
    """Slot by slot, the best matching of waiting groups to free stations.

    A matching fills as many stations as possible; among those it prefers scarce kinds, groups
    with much left to do, and stations that fit a group snugly. Returns a full placement, or
    None when this gets stuck (the exact solver may not).
    """
    from scheduler.cpsat import best_matching

    placement: Placement = dict(instance.pinned)
    todo = [set(need) for need in instance.needs]
    kind_of = {st.id: st.kind for st in instance.stations}
    staffed = instance.staffed() if instance.staff is not None else set()
    # Kinds every one of whose stations needs staff: each visit to them uses up supervision.
    supervised = set(kind_of.values()) - {
        st.kind for st in instance.stations if st.id not in staffed
    }
    for (g, _t), s in instance.pinned.items():
        todo[g].discard(kind_of[s])
    for t in range(instance.first_free, instance.slots):
        taken = {s for (_g, slot), s in placement.items() if slot == t}
        waiting = [g for g in range(len(todo)) if todo[g] and (g, t) not in placement]
        weights: dict[tuple[int, int], int] = {}
        by_kind: dict[str, tuple[list[int], int]] = {}  # kind -> groups needing it, scarcity
        for station in instance.stations:
            if station.id in taken:
                continue
            if station.kind not in by_kind:
                needing = [g for g in waiting if station.kind in todo[g]]
                smallest = min((instance.sizes[g] for g in needing), default=0)
                fitting = sum(
                    1
                    for st in instance.stations
                    if st.kind == station.kind and st.seats >= smallest
                )
                by_kind[station.kind] = needing, min(len(needing) * 10 // max(fitting, 1), 99)
            needing, scarcity = by_kind[station.kind]
            for g in needing:
                if instance.can_host(g, t, station):
                    snug = max(0, 9 - (station.seats - instance.sizes[g]))
                    weights[g, station.id] = 100_000 + 100 * scarcity + 10 * len(todo[g]) + snug
        matching = best_matching(weights)
        if instance.staff is not None:
            room = instance.staff - len(taken & staffed)
            matching = _within_staff(matching, weights, staffed, room)
        for g, station_id in matching.items():
            placement[g, t] = station_id
            todo[g].discard(kind_of[station_id])
        left = instance.slots - t - 1
        if any(len(need) > left for need in todo):
            return None
        if instance.staff is not None and (
            sum(len(need & supervised) for need in todo) > instance.staff * left
        ):
            return None
    return placement


def _within_staff(
    matching: dict[int, int],
    weights: dict[tuple[int, int], int],
    staffed: set[int],
    room: int,
) -> dict[int, int]:
    """Keep the ``room`` best-weighted pairs at stations that need staff; match the other
    groups to stations that need none."""
    from scheduler.cpsat import best_matching

    at_staffed = sorted(
        ((weights[g, s], g, s) for g, s in matching.items() if s in staffed), reverse=True
    )
    if len(at_staffed) <= room:
        return matching
    kept = {g: s for _w, g, s in at_staffed[: max(room, 0)]}
    rest = {(g, s): w for (g, s), w in weights.items() if s not in staffed and g not in kept}
    return kept | best_matching(rest)
