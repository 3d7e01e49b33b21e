"""Each binding constraint has its own explanation and concrete fixes."""

from __future__ import annotations

import pytest

from scheduler.model import Busy, Person, Pin, PlanningImpossible, Request
from scheduler.planning import plan
from tests.scheduler.test_planning import DUESSELDORF, hm, lab, request


def explain(req: Request) -> tuple[str, list[str]]:
    with pytest.raises(PlanningImpossible) as caught:
        plan(req)
    return caught.value.reason.message, [fix.message for fix in caught.value.fixes]


@pytest.mark.parametrize(
    ("req", "reason", "fixes"),
    [
        (
            request(end=hm("12:00")),
            "3 station kinds need 3 slots of 20 min + 5 min changeover = 70 min, "
            "the hands-on block has 60 min.",
            [
                "Extend the hands-on block to 12:10.",
                "Shorten slots to 16 min.",
                "Take out a kind.",
                "Accept a partial plan (who misses what is listed).",
            ],
        ),
        (
            request(
                lab(("vr", 4), ("gaming", 4), ("gaming", 4), ("printing", 4), ("printing", 4)),
                participants=16,
                end=hm("12:30"),
            ),
            "4 groups share 1 VR station(s): that needs 4 slots of 20 min + 5 min changeover "
            "= 95 min, the hands-on block has 90 min.",
            [
                "Extend the hands-on block to 12:35.",
                "Shorten slots to 18 min.",
                "Bring another VR station into service.",
                "Accept a partial plan (who misses what is listed).",
            ],
        ),
        (
            request(lab(("gaming", 4), ("printing", 4)), kinds=("vr", "gaming", "printing")),
            "No VR station is in service.",
            ["Bring a VR station back into service.", "Accept a plan without VR."],
        ),
        (
            request(group_count=2),
            "A group of 5 people does not fit any gaming station (the largest takes 4).",
            ["Make groups of at most 4 people.", "Raise the capacity of a gaming station."],
        ),
        (
            request(end=hm("11:15")),
            "The hands-on block (15 min) is shorter than one slot (20 min).",
            ["Shorten slots to 15 min."],
        ),
        (
            request(participants=0),
            "The visit has no participants: enter how many come.",
            ["Set the number of participants of the visit."],
        ),
        (
            request(group_count=12),
            "12 groups cannot be made from 9 people.",
            ["Choose between 1 and 9 groups."],
        ),
        (
            request(pins=(Pin(0, 0, 7), Pin(1, 0, 7))),
            "Two pins claim the same group or station in slot 1.",
            ["Remove one of the two pins."],
        ),
        (
            request(pins=(Pin(5, 0, 7),)),
            "A pin names group 6 in slot 1, which the plan does not have.",
            ["Remove that pin."],
        ),
        (
            request(pins=(Pin(0, 0, 3), Pin(1, 1, 3), Pin(2, 2, 4))),
            "No full rotation fits into 3 slots with the stations free then (other visits on "
            "the same day, pins, stations out of service).",
            [
                "Remove pins.",
                "Extend the hands-on block.",
                "Accept a partial plan (who misses what is listed).",
            ],
        ),
        (
            request(pins=(Pin(2, 2, 1),)),
            "Group C (3 people) is pinned to vr-1, which takes 2.",
            ["Remove that pin."],
        ),
        (
            request(pins=(Pin(0, 0, 3), Pin(0, 1, 1))),
            "Group A (3 people) is pinned to vr-1, which takes 2.",
            ["Remove that pin."],
        ),
        (
            request(pins=(Pin(0, 0, 7), Pin(0, 1, 8))),
            "Group A is pinned to printing-8 in slot 2, but does not need (another) 3D printing "
            "visit.",
            ["Remove that pin."],
        ),
        (
            request(pins=(Pin(0, 0, 42),)),
            "Group A is pinned in slot 1 to a station that is not in service.",
            ["Remove that pin."],
        ),
        (
            request(pins=(Pin(0, 0, 3),), busy=(Busy(3, hm("11:00"), hm("11:30")),)),
            "vr-3 is busy in slot 1, where group A is pinned.",
            ["Remove that pin."],
        ),
    ],
)
def test_each_binding_constraint_is_explained(req: Request, reason: str, fixes: list[str]) -> None:
    assert explain(req) == (reason, fixes)


def test_the_suggested_window_fix_works() -> None:
    too_short = request(end=hm("12:00"))
    _reason, fixes = explain(too_short)
    assert fixes[0] == "Extend the hands-on block to 12:10."
    assert len(plan(request(end=hm("12:10"))).slots) == 3
    assert len(plan(request(end=hm("12:00"), slot_minutes=16)).slots) == 3


def test_people_avoiding_a_kind_are_not_counted_as_missing_it() -> None:
    people = tuple(Person(f"P{i}", frozenset({"vr"}) if i < 3 else frozenset()) for i in range(9))
    result = plan(request(DUESSELDORF, participants=people))
    assert result.missing == ()
