"""Planner speed and quality on lab-shaped visits: prints a table of medians.

    .venv/bin/python bench/planner.py [--runs N]

For each case: the median time of the shipped pipeline (greedy + lower bound, CP-SAT only for
the gap), the slots it uses against the lower bound, whether it proved the plan optimal, and
the same plan made by CP-SAT alone (the baseline, measured in the same run) as a ratio.
Then the median time of a re-plan after a station breaks at half time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from scheduler import cpsat
from scheduler.bounds import lower_bound, slots_that_fit
from scheduler.grouping import group_counts, make_groups, needs_of
from scheduler.instance import Instance
from scheduler.model import Plan, PlanningImpossible, Request, Station
from scheduler.planning import plan, replan

KINDS = ("vr", "gaming", "printing")


def lab(*specs: tuple[str, int]) -> tuple[Station, ...]:
    return tuple(Station(i, f"{k}{i}", k, c) for i, (k, c) in enumerate(specs, 1))


def visit(stations: tuple[Station, ...], people: int, minutes: int = 90) -> Request:
    return Request(
        start=11 * 60,
        end=11 * 60 + minutes,
        slot_minutes=20,
        changeover_minutes=5,
        kinds=KINDS,
        stations=stations,
        participants=people,
        time_limit_seconds=10,
    )


OPEN_DAY = lab(
    *[("vr", c) for c in (2, 2, 4, 4, 6, 6, 6)],
    *[("gaming", c) for c in (4, 4, 6, 6, 6, 6, 8)],
    *[("printing", c) for c in (4, 4, 6, 6, 6, 6)],
)
CASES: dict[str, Request] = {
    "9 people, 1 station per kind": visit(lab(("vr", 4), ("gaming", 4), ("printing", 4)), 9),
    "9 people, 6 stations": visit(
        lab(("vr", 2), ("vr", 4), ("gaming", 4), ("gaming", 4), ("printing", 4), ("printing", 4)), 9
    ),
    "30 people, 8 stations": visit(
        lab(
            ("vr", 4),
            ("vr", 4),
            ("vr", 2),
            ("gaming", 6),
            ("gaming", 6),
            ("printing", 4),
            ("printing", 4),
            ("printing", 4),
        ),
        30,
        minutes=150,
    ),
    "130 people, 20 stations (open day)": visit(OPEN_DAY, 130, minutes=360),
}


def random_family(seed: int, count: int) -> dict[str, Request]:
    rng = random.Random(seed)
    family = {}
    for n in range(count):
        stations = lab(*[(rng.choice(KINDS), rng.randint(2, 6)) for _ in range(rng.randint(3, 12))])
        if {s.kind for s in stations} != set(KINDS):
            stations = stations + lab(*[(k, 4) for k in KINDS])[:3]
            stations = tuple(
                Station(i, s.name, s.kind, s.capacity) for i, s in enumerate(stations, 1)
            )
        family[f"random #{n} (seed {seed})"] = visit(stations, rng.randint(6, 60), minutes=480)
    return family


def cpsat_alone(request: Request) -> int:
    """The baseline: the same grouping, slots found by CP-SAT from the bound upwards."""
    groups = make_groups(request, group_counts(request)[0])
    needs = [needs_of(request, g) for g in groups]
    sizes = [g.size for g in groups]
    slots = lower_bound(sizes, needs, request.stations).slots
    top = slots_that_fit(
        request.end - request.start, request.slot_minutes, request.changeover_minutes
    )
    while slots <= top:
        answer = cpsat.solve(Instance(slots, sizes, needs, list(request.stations)), seconds=10)
        if answer.placement is not None:
            return slots
        slots += 1
    return -1


def median_ms(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@dataclass
class Row:
    name: str
    ms: float
    slots: int
    bound: int
    optimal: bool
    engine: str
    baseline_ms: float
    baseline_slots: int
    replan_ms: float


def measure(name: str, request: Request, runs: int) -> Row | None:
    try:
        result: Plan = plan(request)
    except PlanningImpossible as impossible:
        print(f"{name}: explained as impossible ({impossible})")
        return None
    ms = median_ms(lambda: plan(request), runs)
    baseline_slots = cpsat_alone(request)
    baseline_ms = median_ms(lambda: cpsat_alone(request), max(3, runs // 3))
    half = result.slots[len(result.slots) // 2].start + 1
    used = result.slots[len(result.slots) // 2].assignments[0].station_id
    replan_ms = median_ms(
        lambda: replan(request, result, at=half, station_out=used), max(3, runs // 3)
    )
    return Row(
        name,
        ms,
        len(result.slots),
        result.lower_bound_slots,
        result.optimal,
        result.engine,
        baseline_ms,
        baseline_slots,
        replan_ms,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--random", type=int, default=12, help="instances in the random family")
    args = parser.parse_args()
    plan(visit(lab(("vr", 4), ("gaming", 4), ("printing", 4)), 9))  # warm up imports
    cases = CASES | random_family(2026, args.random)
    rows = [row for n, r in cases.items() if (row := measure(n, r, args.runs)) is not None]
    print(
        f"{'case':38} {'median ms':>10} {'slots':>5} {'bound':>5} {'proven':>6} {'engine':>7}"
        f" {'CP-SAT alone ms':>15} {'ratio':>7} {'re-plan ms':>10}"
    )
    for r in rows:
        same = "" if r.baseline_slots == r.slots else f" (CP-SAT: {r.baseline_slots} slots)"
        print(
            f"{r.name:38} {r.ms:10.2f} {r.slots:5d} {r.bound:5d} {'yes' if r.optimal else 'no':>6}"
            f" {r.engine:>7} {r.baseline_ms:15.1f} {r.baseline_ms / r.ms:6.1f}x {r.replan_ms:10.1f}"
            f"{same}"
        )
    family = [r for r in rows if r.name.startswith("random")]
    at_bound = sum(1 for r in family if r.slots == r.bound)
    proven = sum(1 for r in family if r.optimal)
    print(
        f"\nrandom family: {at_bound}/{len(family)} at the lower bound, {proven}/{len(family)} "
        f"proven optimal; median {statistics.median(r.ms for r in family):.2f} ms, "
        f"worst {max(r.ms for r in family):.1f} ms"
    )


if __name__ == "__main__":
    main()
