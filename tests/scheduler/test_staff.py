"""Staff on duty: stations that need supervision share the people who supervise them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.bounds import lower_bound
from scheduler.model import Busy, Pin, PlanningImpossible, Station
from scheduler.planning import plan, replan
from tests.scheduler.test_planning import explanation, hm, request, valid
from tests.scheduler.validator import violations

# VR and 3D printing need a staff member at the station; gaming does not.
SUPERVISED = (
    Station(1, "vr-1", "vr", 4, needs_staff=True),
    Station(2, "gaming-2", "gaming", 4),
    Station(3, "printing-3", "printing", 4, needs_staff=True),
)


def supervised_per_slot(result_slots: object) -> list[int]:
    staffed = {s.id for s in SUPERVISED if s.needs_staff}
    return [
        sum(1 for a in slot.assignments if a.station_id in staffed)
        for slot in result_slots  # type: ignore[attr-defined]
    ]


def test_one_person_for_two_supervised_kinds_stretches_the_plan() -> None:
    req = request(SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=1)
    result = valid(req, plan(req))
    # 3 groups × 2 supervised kinds, one at a time: 6 slots instead of 3.
    assert len(result.slots) == 6
    assert result.lower_bound_slots == 6
    assert result.optimal
    assert max(supervised_per_slot(result.slots)) == 1
    assert not result.missing


def test_one_person_supervising_two_stations_relaxes_it() -> None:
    req = request(
        SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=1, stations_per_staff=2
    )
    result = valid(req, plan(req))
    assert len(result.slots) == 3
    assert max(supervised_per_slot(result.slots)) == 2


def test_no_count_means_no_limit_as_before() -> None:
    req = request(SUPERVISED, participants=12, end=hm("13:30"))
    result = valid(req, plan(req))
    assert len(result.slots) == 3
    assert max(supervised_per_slot(result.slots)) == 2


def test_the_bound_counts_supervised_visits_per_staff_capacity() -> None:
    sizes = [4, 4, 4]
    needs = [frozenset({"vr", "gaming", "printing"})] * 3
    assert lower_bound(sizes, needs, SUPERVISED).slots == 3
    assert lower_bound(sizes, needs, SUPERVISED, staff_capacity=1).slots == 6
    assert lower_bound(sizes, needs, SUPERVISED, staff_capacity=1).supervised == 6
    assert lower_bound(sizes, needs, SUPERVISED, staff_capacity=2).slots == 3
    # A kind with one station that needs no staff does not count.
    mixed = (*SUPERVISED, Station(4, "vr-4", "vr", 4))
    assert lower_bound(sizes, needs, mixed, staff_capacity=1).slots == 3


def test_the_explanation_names_staff_as_the_bottleneck_and_its_fixes() -> None:
    req = request(SUPERVISED, participants=12, end=hm("12:30"), staff_on_duty=1)
    with pytest.raises(PlanningImpossible) as caught:
        plan(req)
    assert caught.value.reason.field == "staff_on_duty"
    assert caught.value.reason.message == (
        "6 station visits need supervision and staff can supervise 1 station(s) at once: "
        "that needs 6 slots, more than fit into the hands-on block."
    )
    assert [fix.message for fix in caught.value.fixes] == [
        "Put one more person on duty.",
        "Extend the hands-on block to 13:25.",
        "Shorten slots to 10 min.",
        "Plan a kind whose stations need no supervision.",
        "Make fewer, larger groups.",
        "Accept a partial plan (who misses what is listed).",
    ]


def test_no_staff_on_duty_is_explained() -> None:
    req = request(SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=0)
    with pytest.raises(PlanningImpossible) as caught:
        plan(req)
    assert caught.value.reason.message == (
        "6 station visits need supervision, but no staff are on duty."
    )
    partial = replace(req, accept_partial=True)
    result = valid(partial, plan(partial))
    assert max(supervised_per_slot(result.slots), default=0) == 0
    assert {m.kind for m in result.missing} == {"vr", "printing"}


def test_pins_beyond_the_staff_are_refused() -> None:
    req = request(
        SUPERVISED,
        participants=12,
        end=hm("13:30"),
        staff_on_duty=1,
        pins=(Pin(0, 0, 1), Pin(1, 0, 3)),
    )
    with pytest.raises(PlanningImpossible) as caught:
        plan(req)
    assert caught.value.reason.field == "pins"
    assert "need supervision" in caught.value.reason.message


def test_a_pin_within_the_staff_is_kept() -> None:
    req = request(
        SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=1, pins=(Pin(2, 0, 3),)
    )
    result = valid(req, plan(req))
    assert result.station_at(2, 0) == 3
    assert max(supervised_per_slot(result.slots)) == 1


def test_replan_when_a_staff_member_leaves() -> None:
    req = request(SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=2)
    before = valid(req, plan(req))
    assert len(before.slots) == 3
    assert max(supervised_per_slot(before.slots)) == 2
    at = before.slots[1].start
    after = replan(req, before, at=at, staff_leaves=1)
    assert after.slots[:1] == before.slots[:1]
    fewer = replace(req, staff_on_duty=1)

    assert violations(fewer, after, history=1) == []
    assert max(supervised_per_slot(after.slots[1:])) == 1
    assert not after.missing  # the block is long enough for the stretched rest


# Another visit holds both supervised stations in the first slot (11:00 to 11:20).
BOTH_HELD = (Busy(1, hm("11:00"), hm("11:20")), Busy(3, hm("11:00"), hm("11:20")))


def test_held_supervised_stations_count_in_the_bound() -> None:
    req = request(SUPERVISED, participants=12, end=hm("14:00"), staff_on_duty=1, busy=BOTH_HELD)
    result = valid(req, plan(req))
    # 6 supervised visits, one a slot, none in the first: 7 slots, proven by the bound.
    assert result.lower_bound_slots == len(result.slots) == 7
    assert result.optimal
    assert supervised_per_slot(result.slots)[0] == 0


def test_too_few_supervised_places_are_explained() -> None:
    req = request(SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=1, busy=BOTH_HELD)
    assert explanation(req) == (
        "6 station visits need supervision, but the staff on duty and the free stations that "
        "need it allow 5 in the hands-on block.",
        [
            "Put one more person on duty.",
            "Extend the hands-on block.",
            "Plan a kind whose stations need no supervision.",
            "Accept a partial plan (who misses what is listed).",
        ],
    )


def test_visits_that_cannot_avoid_supervision_count_in_the_bound() -> None:
    # Both printers need staff; of the two headsets only one does. 8 groups, 2 staff: 8
    # printing visits need them, and in S slots the free headset takes at most S of the 8
    # VR visits, so 8 + (8 - S) <= 2 S: S >= 6 (counting printing alone says 4).
    lab = (
        Station(1, "gaming-1", "gaming", 6),
        Station(2, "gaming-2", "gaming", 6),
        Station(3, "printing-3", "printing", 4, needs_staff=True),
        Station(4, "printing-4", "printing", 4, needs_staff=True),
        Station(5, "vr-5", "vr", 2),
        Station(6, "vr-6", "vr", 1, max_group=2, needs_staff=True),
    )
    req = request(lab, participants=16, group_count=8, staff_on_duty=2, end=hm("14:00"))
    result = valid(req, plan(req))
    assert result.lower_bound_slots == len(result.slots) == 6
    assert result.optimal


def test_a_plan_says_when_supervision_sets_its_length() -> None:
    limited = plan(request(SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=1))
    assert limited.supervised_visits == 6  # 3 groups × VR and printing, one at a time
    two = plan(request(SUPERVISED, participants=12, end=hm("13:30"), staff_on_duty=2))
    assert (len(two.slots), two.supervised_visits) == (3, 0)  # the kinds set it: 3 slots
    assert plan(request(SUPERVISED, participants=12)).supervised_visits == 0
