"""Splitting the participants into groups of balanced sizes."""

from __future__ import annotations

import math
import string

from librarylab.errors import Problem
from scheduler.bounds import lower_bound
from scheduler.model import Group, Person, PlanningImpossible, Request


def group_name(index: int) -> str:
    """A, B, …, Z, AA, AB, … — the same in every language."""
    letters = string.ascii_uppercase
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = letters[rest] + name
    return name


def balanced_sizes(people: int, groups: int) -> list[int]:
    """Sizes differing by at most one, larger first: 9 people in 4 groups → 3, 2, 2, 2."""
    base, extra = divmod(people, groups)
    return [base + 1 if i < extra else base for i in range(groups)]


def _needs(request: Request, avoids: frozenset[str]) -> frozenset[str]:
    return frozenset(request.kinds) - avoids


def _size_limit(request: Request) -> int:
    """The largest group every kind can still host (and the staff's own maximum)."""
    limit = request.max_group_size or request.people_count
    for kind in request.kinds:
        capacities = [s.seats for s in request.stations if s.kind == kind]
        if capacities:
            limit = min(limit, max(capacities))
    return max(limit, 1)


def group_counts(request: Request) -> list[int]:
    """Group counts to try, best first: fewest slots by the bound, then fewest groups.

    Staff's own group count is the only one; otherwise the first is the usual answer and the
    others help when stations are taken by other visits.
    """
    people = request.people_count
    if request.group_count is not None:
        return [request.group_count]
    smallest = math.ceil(people / _size_limit(request))
    ranked: list[tuple[int, int]] = []
    for count in range(smallest, min(people, smallest + len(request.stations)) + 1):
        sizes = balanced_sizes(people, count)
        needs = [frozenset(request.kinds)] * count
        ranked.append((lower_bound(sizes, needs, request.stations).slots, count))
    return [count for _slots, count in sorted(ranked)] or [max(smallest, 1)]


def make_groups(request: Request, count: int) -> list[Group]:
    """``count`` balanced groups; people who avoid a kind are kept together, so fewer groups
    skip it."""
    people = request.people_count
    if not 1 <= count <= people:
        raise PlanningImpossible(
            Problem(
                "group_count",
                "{count} groups cannot be made from {people} people.",
                {"count": count, "people": people},
            ),
            [Problem("group_count", "Choose between 1 and {people} groups.", {"people": people})],
        )
    sizes = balanced_sizes(people, count)
    if isinstance(request.participants, int):
        return [Group(i, group_name(i), size) for i, size in enumerate(sizes)]
    # Marked people first, sorted by what they avoid, so they share groups.
    ordered = sorted(request.participants, key=lambda p: (not p.avoids, sorted(p.avoids), p.name))
    groups: list[Group] = []
    position = 0
    for index, size in enumerate(sizes):
        members: list[Person] = ordered[position : position + size]
        position += size
        avoids = frozenset().union(*(p.avoids for p in members))
        groups.append(
            Group(
                index,
                group_name(index),
                size,
                tuple(p.name for p in members),
                frozenset(avoids) & frozenset(request.kinds),
            )
        )
    return groups


def needs_of(request: Request, group: Group) -> frozenset[str]:
    return _needs(request, group.avoids)
