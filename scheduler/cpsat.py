"""The OR-Tools adapter: the only module that imports OR-Tools.

CP-SAT answers three questions about a fixed number of slots: is there a full rotation; which
full rotation keeps most of a previous plan; which partial plan meets the most kinds. The
assignment solver picks the best group-to-station matching within one slot for the greedy.

The same request gives the same plan, however busy the machine: CP-SAT searches with one
worker (several race each other, and the first to find a plan wins), a fixed seed, and a
budget in its deterministic time, which counts work done, never the clock. Budgets are given
in seconds of one core of this project's 2-core machine; ``WORK_PER_SECOND`` converts them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ortools.graph.python import linear_sum_assignment
from ortools.sat.python import cp_model

from scheduler.instance import Instance, Placement


class Outcome(enum.Enum):
    OPTIMAL = "optimal"  # proven best (for feasibility: found)
    FEASIBLE = "feasible"  # found, not proven best
    INFEASIBLE = "infeasible"  # proven impossible
    UNKNOWN = "unknown"  # the budget ran out before anything was found


# Deterministic time per second of one core, measured on this project's 2-core machine:
# median 0.41 over nine 130-person labs where CP-SAT makes the plan (0.35 to 0.98).
WORK_PER_SECOND = 0.4
SEED = 1


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    placement: Placement | None
    seconds: float = 0.0  # the work done, in the same seconds as the budget


def solve(
    instance: Instance,
    *,
    partial: bool = False,
    keep: Placement | None = None,
    hint: Placement | None = None,
    seconds: float = 2.0,
) -> Answer:
    """Place groups in ``instance.slots`` slots; every needed kind exactly once unless
    ``partial`` (then as many as possible); with ``keep``, change as little as possible.

    ``seconds`` is a budget of work (see ``WORK_PER_SECOND``), not of time on the clock.
    """
    model = cp_model.CpModel()
    x: dict[tuple[int, int, int], cp_model.IntVar] = {}
    for g, t, s in instance.options():
        x[g, t, s] = model.new_bool_var(f"x_{g}_{t}_{s}")
    by_group_slot: dict[tuple[int, int], list[cp_model.IntVar]] = {}
    by_station_slot: dict[tuple[int, int], list[cp_model.IntVar]] = {}
    by_group_kind: dict[tuple[int, str], list[cp_model.IntVar]] = {}
    kind_of = {st.id: st.kind for st in instance.stations}
    for (g, t, s), var in x.items():
        by_group_slot.setdefault((g, t), []).append(var)
        by_station_slot.setdefault((s, t), []).append(var)
        by_group_kind.setdefault((g, kind_of[s]), []).append(var)
    for group in by_group_slot.values():
        model.add_at_most_one(group)
    for station in by_station_slot.values():
        model.add_at_most_one(station)
    if instance.staff is not None:
        staffed = instance.staffed()
        by_slot: dict[int, list[cp_model.IntVar]] = {}
        for (_g, t, s), var in x.items():
            if s in staffed:
                by_slot.setdefault(t, []).append(var)
        for supervised in by_slot.values():
            if len(supervised) > instance.staff:
                model.add(sum(supervised) <= instance.staff)
    met = []
    for g, needs in enumerate(instance.needs):
        for kind in sorted(needs):  # a set's order changes with each process's hash seed
            chances = by_group_kind.get((g, kind), [])
            if partial:
                model.add(sum(chances) <= 1)
                met.extend(chances)
            elif not chances:
                return Answer(Outcome.INFEASIBLE, None)
            else:
                model.add_exactly_one(chances)
    for (g, t), s in instance.pinned.items():
        if (g, t, s) not in x:
            return Answer(Outcome.INFEASIBLE, None)
        model.add(x[g, t, s] == 1)
    if partial:
        model.maximize(sum(met))
    elif keep:
        model.maximize(sum(x[g, t, s] for (g, t), s in keep.items() if (g, t, s) in x))
    for (g, t), s in (hint or {}).items():
        if (g, t, s) in x:
            model.add_hint(x[g, t, s], 1)

    solver = cp_model.CpSolver()
    # No limit on the clock: a busy machine makes the search slower, never different.
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = SEED
    solver.parameters.max_deterministic_time = seconds * WORK_PER_SECOND
    status = solver.solve(model)
    spent = solver.response_proto.deterministic_time / WORK_PER_SECOND
    if status == cp_model.INFEASIBLE:
        return Answer(Outcome.INFEASIBLE, None, spent)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Answer(Outcome.UNKNOWN, None, spent)
    placement = {(g, t): s for (g, t, s), var in x.items() if solver.value(var)}
    outcome = Outcome.OPTIMAL if status == cp_model.OPTIMAL else Outcome.FEASIBLE
    return Answer(outcome, placement, spent)


def best_matching(weights: dict[tuple[int, int], int]) -> dict[int, int]:
    """The matching of left to right nodes with the largest total weight (weights > 0).

    Made square with "idle" partners of weight 0 on both sides, so one always exists.
    """
    lefts = sorted({left for left, _right in weights})
    rights = sorted({right for _left, right in weights})
    left_at = {left: i for i, left in enumerate(lefts)}
    right_at = {right: j for j, right in enumerate(rights)}
    solver = linear_sum_assignment.SimpleLinearSumAssignment()
    n_left, n_right = len(lefts), len(rights)
    for (left, right), weight in weights.items():
        solver.add_arc_with_cost(left_at[left], right_at[right], -weight)
    for i in range(n_left):  # a left node may stay idle ...
        solver.add_arc_with_cost(i, n_right + i, 0)
    for j in range(n_right):  # ... and so may a right node
        solver.add_arc_with_cost(n_left + j, j, 0)
        for i in range(n_left):
            solver.add_arc_with_cost(n_left + j, n_right + i, 0)
    if solver.solve() != solver.OPTIMAL:
        return {}
    return {
        lefts[i]: rights[solver.right_mate(i)]
        for i in range(n_left)
        if solver.right_mate(i) < n_right
    }
