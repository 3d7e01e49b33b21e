"""The programme's figures, computed from plain rows. Pure: no database, no clock, no web.

Which visits count: only those that take place, i.e. confirmed or done. Free dates,
unanswered requests and cancelled visits have no visitors to count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from booking.model import RequestState
from printers.jobs import JobState
from stations.model import Kind
from visits.model import VisitStatus

COUNTED = frozenset({VisitStatus.CONFIRMED, VisitStatus.DONE})

# A print is done once it came off the printer; clearing the bed is only staff's receipt.
PRINTED = frozenset({JobState.FINISHED, JobState.AWAITING_BED_CLEAR, JobState.DONE})
STILL_OPEN = frozenset({JobState.QUEUED, JobState.UPLOADING, JobState.PRINTING, JobState.UNKNOWN})


@dataclass(frozen=True)
class VisitRow:
    id: int
    day: date
    round: str  # "" without a round
    library: str
    town: str
    topic: str
    participants: int
    status: VisitStatus
    posts: tuple[bool, ...] = ()  # published? per promised post


@dataclass(frozen=True)
class PlanSlot:
    start: int  # minutes since midnight
    end: int
    station_ids: tuple[int, ...]


@dataclass(frozen=True)
class PlanRow:
    visit_id: int
    slots: tuple[PlanSlot, ...]


@dataclass(frozen=True)
class StationInfo:
    name: str
    kind: str


@dataclass(frozen=True)
class Tally:
    """Visits and visitors under one name (a round, a library, a town, a topic or a year)."""

    name: str
    visits: int
    visitors: int


@dataclass(frozen=True)
class StationUse:
    station_id: int
    name: str
    kind: str
    minutes: int


@dataclass(frozen=True)
class Posts:
    """Posts of the visits that are over: published, promised but outstanding, and visits
    that promised none."""

    published: int
    outstanding: int
    visits_without_posts: int


@dataclass(frozen=True)
class Prints:
    done: int
    failed: int
    cancelled: int
    open: int


# A request that reached staff: its contact confirmed it by mail.
REACHED_STAFF = frozenset({RequestState.CONFIRMED, RequestState.ACCEPTED, RequestState.DECLINED})


@dataclass(frozen=True)
class Requests:
    """Visit requests made in the range, by where they stand, and how many became visits."""

    by_state: tuple[tuple[RequestState, int], ...]  # every state, in the order of the enum
    total: int
    confirmed_by_mail: int  # reached staff: waiting, accepted or declined
    accepted: int
    acceptance_rate: float | None  # accepted of those confirmed by mail; None without any

    def count(self, state: RequestState) -> int:
        return dict(self.by_state)[state]


def requests(states: Iterable[RequestState]) -> Requests:
    """Request-to-visit conversion: of the requests confirmed by mail, the share accepted.
    Requests still waiting count as not (yet) accepted."""
    counts = dict.fromkeys(RequestState, 0)
    for state in states:
        counts[state] += 1
    reached = sum(counts[s] for s in REACHED_STAFF)
    accepted = counts[RequestState.ACCEPTED]
    return Requests(
        by_state=tuple(counts.items()),
        total=sum(counts.values()),
        confirmed_by_mail=reached,
        accepted=accepted,
        acceptance_rate=accepted / reached if reached else None,
    )


@dataclass(frozen=True)
class Figures:
    visits: int
    visitors: int
    per_year: tuple[Tally, ...]
    per_round: tuple[Tally, ...]
    libraries: tuple[Tally, ...]
    towns: tuple[Tally, ...]
    topics: tuple[Tally, ...]
    posts: Posts
    minutes_per_kind: tuple[tuple[str, int], ...]
    minutes_per_station: tuple[StationUse, ...]
    prints: Prints
    requests: Requests


def _tallies(visits: Iterable[VisitRow], name_of: Callable[[VisitRow], str]) -> list[Tally]:
    """Tallies in order of first appearance (callers pass visits by date)."""
    counts: dict[str, list[int]] = {}
    for visit in visits:
        name = name_of(visit)
        entry = counts.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += visit.participants
    return [Tally(name, n, people) for name, (n, people) in counts.items()]


def _most_first(tallies: list[Tally]) -> tuple[Tally, ...]:
    return tuple(sorted(tallies, key=lambda t: (-t.visits, -t.visitors, t.name.casefold())))


def station_use(
    plans: Iterable[PlanRow], stations: Mapping[int, StationInfo]
) -> tuple[tuple[tuple[str, int], ...], tuple[StationUse, ...]]:
    """Minutes each station is in use by the plans, and per kind.

    A station counts once per slot, even when two small groups share it in that slot.
    """
    per_station: dict[int, int] = defaultdict(int)
    for plan in plans:
        for slot in plan.slots:
            for station_id in set(slot.station_ids):
                per_station[station_id] += slot.end - slot.start
    per_kind: dict[str, int] = {kind.value: 0 for kind in Kind}
    uses = []
    for station_id, minutes in per_station.items():
        info = stations.get(station_id, StationInfo(f"#{station_id}", ""))
        per_kind[info.kind] = per_kind.get(info.kind, 0) + minutes
        uses.append(StationUse(station_id, info.name, info.kind, minutes))
    uses.sort(key=lambda u: (-u.minutes, u.name.casefold(), u.station_id))
    return tuple(per_kind.items()), tuple(uses)


def prints(states: Mapping[JobState, int]) -> Prints:
    return Prints(
        done=sum(states.get(s, 0) for s in PRINTED),
        failed=states.get(JobState.FAILED, 0),
        cancelled=states.get(JobState.CANCELLED, 0),
        open=sum(states.get(s, 0) for s in STILL_OPEN),
    )


def posts(visits: Iterable[VisitRow], today: date) -> Posts:
    """Only visits before ``today``: a visit still to come owes no post yet."""
    over = [v for v in visits if v.day < today]
    published = sum(flag for v in over for flag in v.posts)
    promised = sum(len(v.posts) for v in over)
    return Posts(published, promised - published, sum(1 for v in over if not v.posts))


def figures(
    visits: Iterable[VisitRow],
    plans: Iterable[PlanRow],
    stations: Mapping[int, StationInfo],
    print_states: Mapping[JobState, int],
    today: date,
    request_states: Iterable[RequestState] = (),
) -> Figures:
    """Every figure of the statistics page; ``visits`` may include those that do not count."""
    held = sorted((v for v in visits if v.status in COUNTED), key=lambda v: (v.day, v.id))
    held_ids = {v.id for v in held}
    per_kind, per_station = station_use((p for p in plans if p.visit_id in held_ids), stations)
    return Figures(
        visits=len(held),
        visitors=sum(v.participants for v in held),
        per_year=tuple(_tallies(held, lambda v: str(v.day.year))),
        per_round=tuple(_tallies(held, lambda v: v.round)),  # in the order the rounds began
        libraries=_most_first(_tallies(held, lambda v: v.library)),
        towns=_most_first(_tallies(held, lambda v: v.town)),
        topics=_most_first(_tallies(held, lambda v: v.topic)),
        posts=posts(held, today),
        minutes_per_kind=per_kind,
        minutes_per_station=per_station,
        prints=prints(print_states),
        requests=requests(request_states),
    )
