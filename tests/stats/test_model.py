"""The figures as tables of plain rows: which visits count, how minutes and posts add up."""

from __future__ import annotations

from datetime import date

import pytest

from booking.model import RequestState
from printers.jobs import JobState
from stats.model import (
    PlanRow,
    PlanSlot,
    Posts,
    Prints,
    StationInfo,
    StationUse,
    Tally,
    VisitRow,
    figures,
    posts,
    prints,
    requests,
    station_use,
)
from visits.model import VisitStatus

TODAY = date(2018, 3, 1)
STATIONS = {
    1: StationInfo("Vive", "vr"),
    2: StationInfo("Switch", "gaming"),
    3: StationInfo("Prusa", "printing"),
}


def visit(
    id: int,
    day: date,
    *,
    participants: int = 10,
    status: VisitStatus = VisitStatus.DONE,
    round: str = "R1",
    library: str = "Stadtbibliothek",
    town: str = "Köln",
    topic: str = "Gaming",
    posts: tuple[bool, ...] = (),
) -> VisitRow:
    return VisitRow(id, day, round, library, town, topic, participants, status, posts)


def test_only_confirmed_and_done_visits_count() -> None:
    rows = [
        visit(1, date(2017, 10, 1), status=VisitStatus.DONE, participants=9),
        visit(2, date(2018, 5, 1), status=VisitStatus.CONFIRMED, participants=12),
        visit(3, date(2018, 5, 2), status=VisitStatus.FREE, participants=0),
        visit(4, date(2018, 5, 3), status=VisitStatus.REQUESTED, participants=20),
        visit(5, date(2018, 5, 4), status=VisitStatus.CANCELLED, participants=30),
    ]
    result = figures(rows, [], STATIONS, {}, TODAY)
    assert (result.visits, result.visitors) == (2, 21)
    assert result.per_year == (Tally("2017", 1, 9), Tally("2018", 1, 12))


def test_rounds_keep_the_order_they_began_in_and_a_visit_without_one_is_named_empty() -> None:
    rows = [
        visit(3, date(2018, 2, 1), round="R2", participants=5),
        visit(1, date(2017, 10, 1), round="R1", participants=9),
        visit(2, date(2017, 11, 1), round="", participants=7),
        visit(4, date(2018, 2, 2), round="R1", participants=1),
    ]
    result = figures(rows, [], STATIONS, {}, TODAY)
    assert result.per_round == (Tally("R1", 2, 10), Tally("", 1, 7), Tally("R2", 1, 5))


def test_libraries_towns_and_topics_list_the_most_visits_first() -> None:
    rows = [
        visit(1, date(2017, 10, 1), library="A", town="Bonn", topic="x", participants=3),
        visit(2, date(2017, 10, 2), library="B", town="Köln", topic="y", participants=4),
        visit(3, date(2017, 10, 3), library="B", town="Köln", topic="x", participants=5),
        visit(4, date(2017, 10, 4), library="C", town="", topic="x", participants=6),
    ]
    result = figures(rows, [], STATIONS, {}, TODAY)
    assert result.libraries == (Tally("B", 2, 9), Tally("C", 1, 6), Tally("A", 1, 3))
    assert result.towns == (Tally("Köln", 2, 9), Tally("", 1, 6), Tally("Bonn", 1, 3))
    assert result.topics == (Tally("x", 3, 14), Tally("y", 1, 4))


def test_posts_count_only_for_visits_that_are_over() -> None:
    rows = [
        visit(1, date(2018, 1, 1), posts=(True, False)),
        visit(2, date(2018, 2, 1), posts=(False,)),
        visit(3, date(2018, 2, 2)),
        visit(4, TODAY, posts=(False,)),  # today: not over yet
        visit(5, date(2018, 6, 1)),
    ]
    assert posts(rows, TODAY) == Posts(published=1, outstanding=2, visits_without_posts=1)


def test_a_station_is_in_use_for_the_length_of_each_slot_it_has_a_group_in() -> None:
    plans = [
        PlanRow(
            1,
            (
                PlanSlot(660, 690, (1, 2, 3)),  # 30 minutes
                PlanSlot(690, 720, (2, 1, 1)),  # two groups share the Vive: still 30 minutes
            ),
        ),
        PlanRow(2, (PlanSlot(600, 645, (3,)),)),  # 45 minutes
    ]
    per_kind, per_station = station_use(plans, STATIONS)
    assert dict(per_kind) == {"vr": 60, "gaming": 60, "printing": 75}
    assert per_station == (
        StationUse(3, "Prusa", "printing", 75),
        StationUse(2, "Switch", "gaming", 60),
        StationUse(1, "Vive", "vr", 60),
    )


def test_every_kind_is_listed_even_when_no_plan_used_it_and_unknown_stations_keep_their_id() -> (
    None
):
    per_kind, per_station = station_use([PlanRow(1, (PlanSlot(0, 20, (9,)),))], STATIONS)
    assert dict(per_kind) == {"vr": 0, "gaming": 0, "printing": 0, "": 20}
    assert per_station == (StationUse(9, "#9", "", 20),)


def test_plans_of_visits_that_do_not_count_are_left_out() -> None:
    rows = [visit(1, date(2018, 1, 1)), visit(2, date(2018, 1, 2), status=VisitStatus.CANCELLED)]
    plans = [PlanRow(1, (PlanSlot(0, 30, (1,)),)), PlanRow(2, (PlanSlot(0, 30, (1,)),))]
    result = figures(rows, plans, STATIONS, {}, TODAY)
    assert result.minutes_per_station == (StationUse(1, "Vive", "vr", 30),)


def test_a_print_is_done_once_it_came_off_the_printer() -> None:
    states = {
        JobState.DONE: 3,
        JobState.AWAITING_BED_CLEAR: 1,
        JobState.FINISHED: 1,
        JobState.FAILED: 2,
        JobState.CANCELLED: 4,
        JobState.QUEUED: 1,
        JobState.PRINTING: 1,
        JobState.UNKNOWN: 1,
    }
    assert prints(states) == Prints(done=5, failed=2, cancelled=4, open=3)
    assert sum(prints(states).__dict__.values()) == sum(states.values())  # none lost


NEW, WAITING, ACCEPTED, DECLINED, EXPIRED = (
    RequestState.NEW,
    RequestState.CONFIRMED,
    RequestState.ACCEPTED,
    RequestState.DECLINED,
    RequestState.EXPIRED,
)


@pytest.mark.parametrize(
    ("states", "confirmed_by_mail", "accepted", "rate"),
    [
        ([], 0, 0, None),
        ([NEW, EXPIRED], 0, 0, None),  # never reached staff: no rate rather than 0 %
        ([ACCEPTED], 1, 1, 1.0),
        ([ACCEPTED, DECLINED, WAITING, NEW, EXPIRED], 3, 1, 1 / 3),
        ([ACCEPTED, ACCEPTED, ACCEPTED, DECLINED], 4, 3, 0.75),
    ],
)
def test_requests_convert_to_visits_among_those_confirmed_by_mail(
    states: list[RequestState], confirmed_by_mail: int, accepted: int, rate: float | None
) -> None:
    result = requests(states)
    assert result.total == len(states)
    assert (result.confirmed_by_mail, result.accepted) == (confirmed_by_mail, accepted)
    assert result.acceptance_rate == (pytest.approx(rate) if rate is not None else None)
    assert [state for state, _ in result.by_state] == list(RequestState)
    assert sum(n for _, n in result.by_state) == len(states)


def test_the_figures_carry_the_requests_beside_the_visits() -> None:
    rows = [VisitRow(1, TODAY, "", "Bib", "Neuss", "Gaming", 10, VisitStatus.CONFIRMED)]
    result = figures(rows, [], STATIONS, {}, TODAY, [ACCEPTED, DECLINED])
    assert result.visits == 1
    assert result.requests.acceptance_rate == 0.5
    assert figures(rows, [], STATIONS, {}, TODAY).requests.total == 0
