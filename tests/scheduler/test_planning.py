"""Rotation plans for lab-shaped visits, checked by the independent validator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from scheduler.bounds import lower_bound
from scheduler.model import Busy, Person, Pin, Plan, PlanningImpossible, Request, Station
from scheduler.planning import plan, replan
from tests.scheduler.validator import violations

KINDS = ("vr", "gaming", "printing")


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def lab(*specs: tuple[str, int]) -> tuple[Station, ...]:
    """Stations from (kind, capacity) pairs, numbered from 1."""
    return tuple(Station(i, f"{kind}-{i}", kind, cap) for i, (kind, cap) in enumerate(specs, 1))


DUESSELDORF = lab(
    ("vr", 2),
    ("vr", 2),
    ("vr", 4),
    ("gaming", 4),
    ("gaming", 4),
    ("gaming", 4),
    ("printing", 4),
    ("printing", 4),
)
ONE_EACH = lab(("vr", 4), ("gaming", 4), ("printing", 4))


def request(stations: tuple[Station, ...] = DUESSELDORF, **changes: object) -> Request:
    values: dict[str, object] = {
        "start": hm("11:00"),
        "end": hm("12:30"),
        "slot_minutes": 20,
        "changeover_minutes": 5,
        "kinds": KINDS,
        "stations": stations,
        "participants": 9,
    } | changes
    return Request(**values)  # type: ignore[arg-type]


def valid(req: Request, result: Plan) -> Plan:
    assert violations(req, result) == []
    return result


def explanation(req: Request) -> tuple[str, list[str]]:
    """The reason and the fixes the planner gives where no plan fits."""
    with pytest.raises(PlanningImpossible) as caught:
        plan(req)
    return caught.value.reason.message, [fix.message for fix in caught.value.fixes]


@pytest.mark.parametrize(
    ("req", "groups", "slots"),
    [
        (request(ONE_EACH), 3, 3),  # one station per kind: three groups rotate
        (request(), 3, 3),  # the Düsseldorf lab, 9 people
        (request(ONE_EACH, participants=1), 1, 3),
        (request(lab(("vr", 9), ("gaming", 9), ("printing", 9))), 1, 3),  # 9 fit everywhere
        (request(lab(("vr", 2), ("gaming", 4), ("printing", 4)), participants=6), 3, 3),
        (
            request(
                lab(("vr", 2), ("gaming", 4), ("printing", 4)), participants=8, end=hm("13:00")
            ),
            4,
            4,
        ),
        (request(group_count=4), 4, 3),
        (request(max_group_size=2), 5, 3),
        (
            request(
                participants=30,
                end=hm("14:00"),
                stations=DUESSELDORF + lab(("vr", 4), ("printing", 4)),
            ),
            8,
            4,
        ),
    ],
)
def test_plans_meet_every_kind_in_the_fewest_slots(req: Request, groups: int, slots: int) -> None:
    result = valid(req, plan(req))
    assert len(result.groups) == groups
    assert len(result.slots) == slots
    assert result.missing == ()
    assert result.lower_bound_slots <= slots


def test_a_plan_that_meets_the_lower_bound_says_it_is_optimal() -> None:
    result = plan(request())
    assert result.lower_bound_slots == len(result.slots) == 3
    assert result.optimal


def test_people_who_avoid_vr_are_never_sent_there() -> None:
    marked = (Person("Mia", frozenset({"vr"})), Person("Ben", frozenset({"vr"})))
    people = (*(Person(f"P{i}") for i in range(7)), *marked)
    req = request(participants=people)
    result = valid(req, plan(req))
    with_them = [g for g in result.groups if "Mia" in g.members or "Ben" in g.members]
    assert len(with_them) == 1  # kept together, so only one group skips VR
    assert with_them[0].avoids == frozenset({"vr"})


def test_pins_stay_where_staff_put_them() -> None:
    pins = (Pin(group=0, slot=0, station_id=7), Pin(group=1, slot=2, station_id=3))
    req = request(pins=pins)
    result = valid(req, plan(req))
    assert result.station_at(0, 0) == 7
    assert result.station_at(1, 2) == 3


def test_stations_booked_by_another_visit_are_left_alone() -> None:
    other_visit = tuple(Busy(station, hm("11:00"), hm("11:50")) for station in (3, 4))
    req = request(busy=other_visit, end=hm("13:00"))
    result = valid(req, plan(req))
    early = [a.station_id for slot in result.slots[:2] for a in slot.assignments]
    assert 3 not in early
    assert 4 not in early


# Another visit holds the only VR station for the first two slots (11:00 and 11:25).
HELD_VR = (Busy(1, hm("11:00"), hm("11:45")),)


def test_stations_held_by_another_visit_raise_the_lower_bound() -> None:
    req = request(ONE_EACH, busy=HELD_VR, end=hm("13:00"))
    result = valid(req, plan(req))
    # Three groups need the one VR station, free from the third slot on: five slots.
    assert result.lower_bound_slots == len(result.slots) == 5
    assert result.optimal
    assert result.engine == "greedy"  # proven by the bound: the solver had nothing to do


def test_a_block_too_short_for_held_stations_says_so() -> None:
    req = request(ONE_EACH, busy=HELD_VR)  # 11:00 to 12:30: four slots
    assert explanation(req) == (
        "3 groups need the 1 VR station(s), but other visits or outages take up 2 of their "
        "slots in the hands-on block: no full rotation fits.",
        [
            "Extend the hands-on block.",
            "Bring another VR station into service.",
            "Accept a partial plan (who misses what is listed).",
        ],
    )


def test_a_partial_plan_lists_who_misses_what() -> None:
    req = request(end=hm("11:50"), accept_partial=True)
    result = valid(req, plan(req))
    assert len(result.slots) == 2
    assert len(result.missing) == 3  # each of the 3 groups misses one kind
    assert not result.optimal


def test_replan_keeps_started_slots_and_avoids_the_broken_station() -> None:
    req = request(end=hm("13:00"))
    before = plan(req)
    at = hm("11:40")  # slot 2 (11:25–11:45) is running
    after = replan(req, before, at=at, station_out=3)
    assert after.slots[:2] == before.slots[:2]
    assert violations(req, after, history=2, broken={3: at}) == []
    assert all(a.station_id != 3 for slot in after.slots[2:] for a in slot.assignments)


def test_replan_gives_a_lost_kind_on_another_station_of_that_kind() -> None:
    stations = lab(("vr", 4), ("vr", 4), ("gaming", 4), ("printing", 4))
    req = request(stations, end=hm("13:00"))
    before = plan(req)
    vr_in_slot_1 = next(a for a in before.slots[1].assignments if a.station_id in (1, 2))
    at = hm("11:40")
    after = replan(req, before, at=at, station_out=vr_in_slot_1.station_id)
    assert violations(req, after, history=2, broken={vr_in_slot_1.station_id: at}) == []
    assert after.missing == ()  # the interrupted group does VR again at the other headset
    later = [
        a for slot in after.slots[2:] for a in slot.assignments if a.group == vr_in_slot_1.group
    ]
    assert any(a.station_id in (1, 2) for a in later)


def test_replan_changes_little() -> None:
    req = request(
        lab(("vr", 4), ("vr", 4), ("gaming", 4), ("gaming", 4), ("printing", 4), ("printing", 4)),
        participants=12,
        end=hm("13:00"),
    )
    before = plan(req)
    after = replan(req, before, at=hm("11:25"), station_out=2)
    old = {(a.group, s.index): a.station_id for s in before.slots[1:] for a in s.assignments}
    new = {(a.group, s.index): a.station_id for s in after.slots[1:] for a in s.assignments}
    changed = sum(1 for key, station in old.items() if new.get(key) != station)
    uses_broken = sum(1 for station in old.values() if station == 2)
    assert changed <= 2 * uses_broken + 2


def test_replan_when_a_group_leaves_early() -> None:
    req = request(end=hm("12:30"))
    before = plan(req)
    after = replan(req, before, at=hm("11:30"), group_leaves=1)  # slots 1 and 2 had started
    assert after.slots[:2] == before.slots[:2]
    assert all(a.group != 1 for slot in after.slots[2:] for a in slot.assignments)
    kinds = {s.id: s.kind for s in DUESSELDORF}
    done = {
        kinds[a.station_id] for slot in before.slots[:2] for a in slot.assignments if a.group == 1
    }
    assert {m.kind for m in after.missing if m.group == 1} == set(KINDS) - done
    assert all(m.group == 1 for m in after.missing)


def test_impossible_requests_raise_an_explanation() -> None:
    with pytest.raises(PlanningImpossible) as caught:
        plan(request(end=hm("12:00")))
    assert "need 3 slots" in str(caught.value)


# 19 stations where the greedy misses the lower bound for 130 people: CP-SAT plans.
OPEN_DAY = lab(
    *[("vr", c) for c in (5, 4, 8, 6, 6)],
    *[("gaming", c) for c in (2, 5, 8, 6, 3, 6, 6, 3)],
    *[("printing", c) for c in (2, 5, 4, 6, 6, 3)],
)


@contextmanager
def busy_cpu(processes: int) -> Iterator[None]:
    """Processes spinning on every core meanwhile, like other work on the lab's server."""
    spinning = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)
    ]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def test_the_same_request_gives_the_same_plan_on_a_busy_machine() -> None:
    req = request(
        OPEN_DAY, participants=130, start=hm("10:00"), end=hm("18:00"), time_limit_seconds=0.35
    )
    quiet = valid(req, plan(req))
    assert quiet.engine == "cp-sat"  # the greedy missed the bound; the solver made this plan
    with busy_cpu(4):
        loaded = plan(req)
    assert loaded == quiet


OPEN_DAY_PLAN = """
import json
from scheduler.documents import to_document
from scheduler.planning import plan
from tests.scheduler.test_planning import OPEN_DAY, hm, request
req = request(OPEN_DAY, participants=130, start=hm("10:00"), end=hm("18:00"),
              time_limit_seconds=0.35)
print(json.dumps(to_document(plan(req), 1), sort_keys=True))
"""


def test_the_same_request_gives_the_same_plan_in_every_process() -> None:
    """Service instances on one database must agree, though each process orders a set of
    strings (the kinds a group needs) differently."""
    plans = {
        subprocess.run(
            [sys.executable, "-c", OPEN_DAY_PLAN],
            cwd=Path(__file__).resolve().parents[2],
            env=os.environ | {"PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(4)
    }
    assert len(plans) == 1
    assert json.loads(plans.pop())["engine"] == "cp-sat"


def test_a_budget_of_zero_returns_the_greedy_plan_at_once() -> None:
    req = request(
        OPEN_DAY,
        participants=130,
        group_count=28,  # the open day's first-ranked count, and no other
        start=hm("10:00"),
        end=hm("18:00"),
        time_limit_seconds=0.35,
    )
    searched = valid(req, plan(req))
    first = valid(req, plan(replace(req, time_limit_seconds=0)))
    assert (first.engine, searched.engine) == ("greedy", "cp-sat")
    assert len(first.slots) > len(searched.slots)  # the solver found fewer slots
    assert not first.optimal
    assert first.lower_bound_slots == searched.lower_bound_slots


def test_an_unproven_plan_gives_way_to_another_group_count_at_its_bound() -> None:
    # A budget too small for CP-SAT to find 7 slots for the first-ranked 28 groups.
    req = request(
        OPEN_DAY, participants=130, start=hm("10:00"), end=hm("18:00"), time_limit_seconds=0.05
    )
    alone = plan(replace(req, group_count=28))
    assert (len(alone.slots), alone.lower_bound_slots, alone.optimal) == (8, 7, False)
    # For 35 groups the greedy reaches their bound of 7, and no 28 groups can do better than
    # theirs: proven.
    result = valid(req, plan(req))
    assert (len(result.groups), len(result.slots), result.optimal) == (35, 7, True)
    assert result.engine == "greedy"
    # A budget of 0 asks for the first plan at once: no other group count is tried.
    assert len(plan(replace(req, time_limit_seconds=0)).groups) == 28


# Seats and turns: a headset used by 2 at once, 3 together taking turns.
HEADSET = Station(1, "vr-headset", "vr", 2, max_group=3)
TURNS_LAB = (HEADSET, Station(2, "gaming-2", "gaming", 4), Station(3, "printing-3", "printing", 4))


def test_a_group_of_three_takes_turns_at_a_headset_for_two() -> None:
    req = request(TURNS_LAB, participants=9)
    result = valid(req, plan(req))
    assert [g.size for g in result.groups] == [3, 3, 3]
    assert len(result.slots) == 3
    at_headset = [a for slot in result.slots for a in slot.assignments if a.station_id == 1]
    assert len(at_headset) == 3
    assert {a.turn_minutes for a in at_headset} == {13}  # 20 min × 2 ÷ 3, rounded down
    elsewhere = [a for slot in result.slots for a in slot.assignments if a.station_id != 1]
    assert {a.turn_minutes for a in elsewhere} == {None}


def test_a_group_of_four_does_not_fit_a_headset_for_three() -> None:
    req = request(TURNS_LAB, participants=8, group_count=2)
    with pytest.raises(PlanningImpossible) as caught:
        plan(req)
    assert caught.value.reason.message == (
        "A group of 4 people does not fit any VR station (the largest takes 3)."
    )


def test_without_max_group_a_headset_takes_only_its_capacity() -> None:
    plain = (Station(1, "vr-headset", "vr", 2), *TURNS_LAB[1:])
    req = request(plain, participants=9, end=hm("13:30"))
    result = valid(req, plan(req))
    assert max(g.size for g in result.groups) == 2  # 5 groups, as before max_group existed
    assert len(result.slots) == 5
    assert all(a.turn_minutes is None for slot in result.slots for a in slot.assignments)


def test_a_pin_of_a_group_too_big_even_for_turns_is_refused() -> None:
    req = request(TURNS_LAB, participants=8, group_count=2, pins=(Pin(0, 0, 1),))
    with pytest.raises(PlanningImpossible):
        plan(req)


def test_a_headset_with_turns_counts_in_the_lower_bound() -> None:
    vr = frozenset({"vr"})
    headsets = (HEADSET, Station(4, "vr-4", "vr", 2, max_group=3), Station(5, "vr-5", "vr", 2))
    # Groups of 3 fit the two headsets with turns, not the third: 4 groups need 2 slots.
    bound = lower_bound([3, 3, 3, 3], [vr] * 4, headsets)
    assert (bound.slots, bound.stations) == (2, 2)
    req = request((*headsets, *TURNS_LAB[1:], Station(6, "printing-6", "printing", 4)))
    req = replace(req, participants=12, end=hm("13:00"))
    result = valid(req, plan(req))
    assert result.lower_bound_slots == len(result.slots) == 4
    assert result.optimal


def test_replan_keeps_turns_where_groups_share_a_station() -> None:
    stations = (HEADSET, Station(4, "vr-4", "vr", 2, max_group=3), *TURNS_LAB[1:])
    req = request(stations, participants=9, end=hm("13:00"))
    before = valid(req, plan(req))
    at = hm("11:40")
    used = next(a.station_id for a in before.slots[2].assignments if a.station_id in (1, 4))
    after = replan(req, before, at=at, station_out=used)
    assert violations(req, after, history=2, broken={used: at}) == []
