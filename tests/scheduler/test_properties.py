"""Random labs and visits: every plan the planner returns keeps every rule."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import cpsat
from scheduler.bounds import slots_that_fit
from scheduler.grouping import needs_of
from scheduler.instance import Instance
from scheduler.model import Busy, Person, Pin, Plan, PlanningImpossible, Request, Station
from scheduler.planning import plan, replan
from tests.scheduler.validator import violations

KINDS = ("vr", "gaming", "printing")


@st.composite
def labs(draw: st.DrawFn) -> tuple[Station, ...]:
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KINDS),
                st.integers(1, 6),
                st.none() | st.integers(0, 3),
                st.booleans(),
            ),
            min_size=1,
            max_size=9,
        )
    )
    # Some stations let more people take turns: max_group = capacity + 0..3.
    return tuple(
        Station(i, f"S{i}", kind, cap, None if extra is None else cap + extra, staffed)
        for i, (kind, cap, extra, staffed) in enumerate(specs, 1)
    )


@st.composite
def requests(draw: st.DrawFn) -> Request:
    stations = draw(labs())
    start = 9 * 60 + draw(st.integers(0, 12)) * 5
    count = draw(st.integers(1, 24))
    people: int | tuple[Person, ...] = count
    if draw(st.booleans()):
        people = tuple(
            Person(f"P{i}", frozenset(draw(st.sets(st.sampled_from(KINDS), max_size=1))))
            for i in range(count)
        )
    busy = tuple(
        Busy(draw(st.sampled_from(stations)).id, start + offset, start + offset + 30)
        for offset in draw(st.lists(st.integers(0, 120), max_size=2))
    )
    return Request(
        start=start,
        end=start + draw(st.integers(15, 200)),
        slot_minutes=draw(st.sampled_from([10, 15, 20, 25])),
        changeover_minutes=draw(st.sampled_from([0, 5])),
        kinds=KINDS,
        stations=stations,
        participants=people,
        max_group_size=draw(st.none() | st.integers(1, 6)),
        busy=busy,
        accept_partial=draw(st.booleans()),
        time_limit_seconds=draw(st.sampled_from([0, 1.0])),  # 0: the greedy's first plan
        staff_on_duty=draw(st.none() | st.integers(0, 3)),
        stations_per_staff=draw(st.integers(1, 2)),
    )


PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plan_or_none(req: Request) -> Plan | None:
    try:
        return plan(req)
    except PlanningImpossible as impossible:
        reason = impossible.reason.message
    fits = slots_that_fit(req.end - req.start, req.slot_minutes, req.changeover_minutes)
    assert reason
    assert not (req.accept_partial and fits), "a partial plan was accepted, yet none came"
    return None


@PROPERTY
@given(requests())
def test_every_plan_keeps_every_rule(req: Request) -> None:
    result = _plan_or_none(req)
    if result is not None:
        assert violations(req, result) == []


def _fewer(req: Request, result: Plan, slots: int) -> Instance:
    """The full rotation of ``result``'s groups in ``slots`` slots, for CP-SAT to decide."""
    step = req.slot_minutes + req.changeover_minutes
    blocked = {
        (b.station_id, t)
        for b in req.busy
        for t in range(slots)
        if b.start < req.start + t * step + req.slot_minutes and req.start + t * step < b.end
    }
    return Instance(
        slots=slots,
        sizes=[g.size for g in result.groups],
        needs=[needs_of(req, g) for g in result.groups],
        stations=list(req.stations),
        blocked=blocked,
        staff=req.staff_capacity,
    )


@PROPERTY
@given(requests())
def test_optimal_is_claimed_only_at_the_bound_or_when_proven(req: Request) -> None:
    result = _plan_or_none(req)
    if result is None or not result.optimal or len(result.slots) <= result.lower_bound_slots:
        return
    # Claimed optimal above the bound: one slot fewer must really be impossible.
    fewer = _fewer(req, result, len(result.slots) - 1)
    assert cpsat.solve(fewer, seconds=10).outcome is cpsat.Outcome.INFEASIBLE


@PROPERTY
@given(requests())
def test_no_full_rotation_fits_below_the_lower_bound(req: Request) -> None:
    result = _plan_or_none(req)
    if result is None or result.lower_bound_slots < 1:
        return
    assert len(result.slots) >= result.lower_bound_slots or result.missing
    # CP-SAT may not prove it in its budget (counting arguments are hard for it), but it
    # must not find a full rotation in fewer slots than the bound.
    fewer = _fewer(req, result, result.lower_bound_slots - 1)
    assert cpsat.solve(fewer, seconds=2).placement is None


@PROPERTY
@given(requests(), st.data())
def test_every_replan_keeps_every_rule(req: Request, data: st.DataObject) -> None:
    before = _plan_or_none(req)
    if before is None or not before.slots:
        return
    at = data.draw(st.integers(req.start, req.end))
    broken = data.draw(st.sampled_from(req.stations)).id
    after = replan(req, before, at=at, station_out=broken)
    history = sum(1 for slot in before.slots if slot.start < at)
    assert after.slots[:history] == before.slots[:history]
    assert violations(req, after, history=history, broken={broken: at}) == []


@PROPERTY
@given(requests(), st.data())
def test_every_replan_after_staff_leave_keeps_every_rule(req: Request, data: st.DataObject) -> None:
    before = _plan_or_none(req)
    if before is None or not before.slots or req.staff_on_duty is None:
        return
    at = data.draw(st.integers(req.start, req.end))
    after = replan(req, before, at=at, staff_leaves=1)
    history = sum(1 for slot in before.slots if slot.start < at)
    assert after.slots[:history] == before.slots[:history]
    fewer = replace(req, staff_on_duty=max(req.staff_on_duty - 1, 0))
    assert violations(fewer, after, history=history) == []


@PROPERTY
@given(requests(), st.data())
def test_pins_taken_from_a_plan_keep_the_bound_at_or_below_it(
    req: Request, data: st.DataObject
) -> None:
    result = _plan_or_none(req)
    if result is None or result.missing or not result.slots:
        return
    cells = sorted(
        (a.group, slot.index, a.station_id) for slot in result.slots for a in slot.assignments
    )
    chosen = data.draw(st.lists(st.sampled_from(cells), min_size=1, max_size=3, unique=True))
    pinned = replace(
        req,
        pins=tuple(Pin(g, t, s) for g, t, s in chosen),
        group_count=len(result.groups),  # the same groups, so the pins name the same ones
        accept_partial=True,
        time_limit_seconds=1.0,
    )
    again = plan(pinned)
    # ``result`` keeps every pin: no bound may lie above it.
    assert again.lower_bound_slots <= len(result.slots)
    assert violations(pinned, again) == []
