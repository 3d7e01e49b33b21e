"""An independent check of every rule a rotation plan must keep (used by many tests)."""

from __future__ import annotations

from collections import Counter

from scheduler.model import Plan, Request


def violations(
    request: Request, plan: Plan, *, history: int = 0, broken: dict[int, int] | None = None
) -> list[str]:
    """Every broken rule of ``plan`` for ``request``, in words; empty when the plan is valid.

    For a re-plan, slots before ``history`` had started and are not judged; a visit to a
    station that broke (``broken``: station id -> minute) before its slot ended is not a visit.
    """
    broken = broken or {}
    found: list[str] = []
    stations = {s.id: s for s in request.stations}
    kinds = {s.id: s.kind for s in request.stations}
    people = request.people_count
    sizes = [g.size for g in plan.groups]
    if sum(sizes) != people:
        found.append(f"groups hold {sum(sizes)} people, the visit has {people}")
    if sizes and max(sizes) - min(sizes) > 1 and request.group_count is None:
        found.append(f"group sizes are unbalanced: {sizes}")
    if request.max_group_size and any(s > request.max_group_size for s in sizes):
        found.append(f"a group exceeds the maximum size {request.max_group_size}")
    if not isinstance(request.participants, int):
        members = sorted(m for g in plan.groups for m in g.members)
        if members != sorted(p.name for p in request.participants):
            found.append("group members are not exactly the participants")
    avoids = {
        p.name: p.avoids
        for p in (() if isinstance(request.participants, int) else request.participants)
    }
    step = request.slot_minutes + request.changeover_minutes
    met: Counter[tuple[int, str]] = Counter()
    for t, slot in enumerate(plan.slots):
        if slot.index != t:
            found.append(f"slot {t} is numbered {slot.index}")
        if slot.start != request.start + t * step or slot.end != slot.start + request.slot_minutes:
            found.append(f"slot {t} runs {slot.start}-{slot.end}, off the slot grid")
        if slot.end > request.end:
            found.append(f"slot {t} ends after the hands-on block")
        groups_here = Counter(a.group for a in slot.assignments)
        stations_here = Counter(a.station_id for a in slot.assignments)
        found += [
            f"group {g} is at two stations in slot {t}" for g, n in groups_here.items() if n > 1
        ]
        found += [
            f"station {s} hosts two groups in slot {t}" for s, n in stations_here.items() if n > 1
        ]
        capacity = request.staff_capacity
        supervised = sum(1 for s in stations_here if s in stations and stations[s].needs_staff)
        if capacity is not None and t >= history and supervised > capacity:
            found.append(
                f"slot {t} uses {supervised} stations that need staff, staff supervise {capacity}"
            )
        for a in slot.assignments:
            station = stations.get(a.station_id)
            if station is None:
                found.append(f"slot {t} uses station {a.station_id}, which is not in service")
                continue
            group = plan.groups[a.group]
            # Up to max_group people can be at a station, taking turns beyond its capacity.
            seats = station.capacity if station.max_group is None else station.max_group
            if group.size > max(seats, station.capacity):
                found.append(f"group {group.name} ({group.size}) exceeds {station.name} ({seats})")
            if t >= history:
                turn = (
                    None
                    if group.size <= station.capacity
                    else (slot.end - slot.start) * station.capacity // group.size
                )
                if a.turn_minutes != turn:
                    found.append(
                        f"group {group.name} at {station.name} in slot {t}: turn "
                        f"{a.turn_minutes} min, expected {turn}"
                    )
            broke = broken.get(a.station_id)
            if broke is not None and broke < slot.end:
                if t >= history:
                    found.append(f"station {a.station_id} is used in slot {t} after it broke")
                continue
            for busy in request.busy:
                if (
                    busy.station_id == a.station_id
                    and busy.start < slot.end
                    and slot.start < busy.end
                ):
                    found.append(f"station {a.station_id} is busy during slot {t}")
            for member in group.members:
                if kinds[a.station_id] in avoids.get(member, frozenset()):
                    found.append(f"{member} avoids {kinds[a.station_id]} but is sent there")
            met[a.group, kinds[a.station_id]] += 1
    missing = {(m.group, m.kind) for m in plan.missing}
    for g, group in enumerate(plan.groups):
        for kind in request.kinds:
            if kind in group.avoids:
                continue
            times = met[g, kind]
            if times > 1:
                found.append(f"group {group.name} meets {kind} {times} times")
            if times == 0 and (g, kind) not in missing:
                found.append(f"group {group.name} never meets {kind} and it is not listed missing")
            if times == 1 and (g, kind) in missing:
                found.append(f"group {group.name} meets {kind} but it is listed missing")
    for pin in request.pins:
        if (
            history <= pin.slot < len(plan.slots)
            and plan.station_at(pin.group, pin.slot) != pin.station_id
        ):
            found.append(f"pin {pin} is not kept")
    if plan.lower_bound_slots > len(plan.slots) and not plan.missing:
        found.append(f"{len(plan.slots)} slots beat the lower bound {plan.lower_bound_slots}")
    if plan.optimal and plan.missing:
        found.append("a partial plan claims to be optimal")
    return found
