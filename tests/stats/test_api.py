"""The statistics API and its CSV on SQLite and PostgreSQL, with a small history whose figures
are worked out by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

from booking.model import RequestState
from booking.orm import VisitRequest
from librarylab import database
from printers.jobs import JobState
from printers.orm import PrintFile, PrintJob
from scheduler.orm import StoredPlan
from stations.model import Kind
from stations.orm import Station
from tests.conftest import Lab
from visits.model import PostKind, VisitStatus
from visits.orm import Round, Visit, VisitPost

DONE, CONFIRMED, CANCELLED = VisitStatus.DONE, VisitStatus.CONFIRMED, VisitStatus.CANCELLED
NOW = datetime(2018, 1, 1, tzinfo=UTC)


def _plan(visit: Visit, slots: list[tuple[str, str, list[int]]]) -> StoredPlan:
    document = {
        "visit_id": visit.id,
        "groups": [],
        "slots": [
            {
                "index": i,
                "start": start,
                "end": end,
                "assignments": [{"group_id": g + 1, "station_id": s} for g, s in enumerate(ids)],
            }
            for i, (start, end, ids) in enumerate(slots)
        ],
        "lower_bound_slots": len(slots),
        "optimal": True,
        "missing": [],
        "engine": "greedy",
    }
    return StoredPlan(visit_id=visit.id, options={}, document=document, inputs={}, updated_at=NOW)


def _job(file: PrintFile, state: JobState, visit: Visit | None, made: datetime = NOW) -> PrintJob:
    return PrintJob(
        file_id=file.id,
        visit_id=visit.id if visit else None,
        state=state,
        created_at=made,
        updated_at=made,
    )


@pytest.fixture
def history(lab: Lab) -> Lab:
    """Five visits in 2017, 2018 and 2099, with plans, posts and print jobs."""
    with database.transaction(lab.sessions) as session:
        vive = Station(name="Vive", kind=Kind.VR, capacity=2, status_since=NOW)
        switch = Station(name="Switch", kind=Kind.GAMING, capacity=4, status_since=NOW)
        prusa = Station(name="Prusa", kind=Kind.PRINTING, capacity=4, status_since=NOW)
        r1, r2 = Round(name="R1"), Round(name="R2")
        session.add_all([vive, switch, prusa, r1, r2])
        session.flush()

        def visit(day: date, round: Round | None, library: str, town: str, topic: str,
                  people: int, status: VisitStatus, posts: list[bool]) -> Visit:  # fmt: skip
            v = Visit(
                date=day, round_id=round.id if round else None, library=library, town=town,
                topic=topic, participants=people, status=status, start=time(10), end=time(14),
                posts=[VisitPost(kind=PostKind.BLOG, url="", published=p) for p in posts],
            )  # fmt: skip
            session.add(v)
            session.flush()
            return v

        v1 = visit(date(2017, 10, 26), r1, "Bib A", "Düsseldorf", "Gaming", 9, DONE, [True, False])
        visit(date(2017, 11, 30), r1, "=1+1", "Bielefeld", "Social Media", 12, DONE, [])
        v3 = visit(date(2018, 2, 15), r2, "Bib A", "Düsseldorf", "Gaming", 8, DONE, [True])
        v4 = visit(date(2018, 3, 1), r2, "Bib C", "Krefeld", "Gaming", 20, CANCELLED, [])
        v5 = visit(date(2099, 1, 10), None, "Bib D", "Neuss", "Gaming", 15, CONFIRMED, [False])
        session.add_all(
            [
                _plan(v1, [("11:00", "11:30", [vive.id, switch.id]),
                           ("11:30", "12:00", [switch.id, prusa.id])]),
                _plan(v3, [("11:00", "11:45", [prusa.id, prusa.id])]),
                _plan(v4, [("10:00", "12:00", [vive.id])]),
            ]
        )  # fmt: skip
        file = PrintFile(name="Boat", filename="boat.gcode", size=1, sha256="0" * 64,
                         created_at=NOW)  # fmt: skip
        session.add(file)
        session.flush()
        session.add_all(
            [
                _job(file, JobState.DONE, v1),
                _job(file, JobState.FAILED, v1),
                _job(file, JobState.CANCELLED, v3),
                _job(file, JobState.AWAITING_BED_CLEAR, v3),
                _job(file, JobState.QUEUED, v5),
                _job(file, JobState.FAILED, None, datetime(2018, 2, 20, 9, tzinfo=UTC)),
                _job(file, JobState.DONE, None, datetime(2019, 5, 5, 9, tzinfo=UTC)),
            ]
        )
    return lab


def _stats(lab: Lab, **query: str) -> dict[str, Any]:
    response = lab.client.get("/api/stats", params=query, headers=lab.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _tallies(rows: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(r["name"], r["visits"], r["visitors"]) for r in rows]


def test_the_whole_history_adds_up_to_the_figures_worked_out_by_hand(history: Lab) -> None:
    body = _stats(history)
    assert (body["from"], body["to"]) == (None, None)
    assert (body["visits"], body["visitors"]) == (4, 44)  # the cancelled visit does not count
    assert _tallies(body["per_year"]) == [("2017", 2, 21), ("2018", 1, 8), ("2099", 1, 15)]
    assert _tallies(body["per_round"]) == [("R1", 2, 21), ("R2", 1, 8), ("", 1, 15)]
    assert _tallies(body["libraries"]) == [("Bib A", 2, 17), ("Bib D", 1, 15), ("=1+1", 1, 12)]
    assert _tallies(body["towns"]) == [
        ("Düsseldorf", 2, 17),
        ("Neuss", 1, 15),
        ("Bielefeld", 1, 12),
    ]
    assert _tallies(body["topics"]) == [("Gaming", 3, 32), ("Social Media", 1, 12)]
    # Of the three visits that are over: two published posts, one outstanding, one without.
    assert body["posts"] == {"published": 2, "outstanding": 1, "visits_without_posts": 1}
    assert body["minutes_per_kind"] == [
        {"kind": "vr", "minutes": 30},
        {"kind": "gaming", "minutes": 60},
        {"kind": "printing", "minutes": 75},  # two groups at the Prusa in one slot: 45, not 90
    ]
    assert [(s["name"], s["kind"], s["minutes"]) for s in body["minutes_per_station"]] == [
        ("Prusa", "printing", 75),
        ("Switch", "gaming", 60),
        ("Vive", "vr", 30),
    ]
    assert body["prints"] == {"done": 3, "failed": 2, "cancelled": 1, "open": 1}


def test_a_range_counts_the_visits_on_its_days_and_the_jobs_made_then(history: Lab) -> None:
    body = _stats(history, **{"from": "2018-01-01", "to": "2018-12-31"})
    assert (body["from"], body["to"]) == ("2018-01-01", "2018-12-31")
    assert (body["visits"], body["visitors"]) == (1, 8)
    assert body["posts"] == {"published": 1, "outstanding": 0, "visits_without_posts": 0}
    assert [(k["kind"], k["minutes"]) for k in body["minutes_per_kind"]] == [
        ("vr", 0),
        ("gaming", 0),
        ("printing", 45),
    ]
    assert body["prints"] == {"done": 1, "failed": 1, "cancelled": 1, "open": 0}


def test_a_range_may_be_open_at_either_end(history: Lab) -> None:
    since = _stats(history, **{"from": "2018-01-01"})
    assert _tallies(since["per_year"]) == [("2018", 1, 8), ("2099", 1, 15)]
    assert since["prints"] == {"done": 2, "failed": 1, "cancelled": 1, "open": 1}
    until = _stats(history, to="2017-10-26")  # the last day is included
    assert _tallies(until["per_year"]) == [("2017", 1, 9)]
    assert until["prints"] == {"done": 1, "failed": 1, "cancelled": 0, "open": 0}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2018-02-01", "to": "2018-01-31"}, "from"),
        ({"from": "2018-13-01"}, "from"),
        ({"to": "20180101"}, "to"),
    ],
)
def test_a_range_that_is_backwards_or_not_made_of_dates_is_refused(
    lab: Lab, query: dict[str, str], field: str
) -> None:
    for path in ("/api/stats", "/api/stats.csv"):
        response = lab.client.get(path, params=query, headers=lab.headers())
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["field"] == field or field in {e["field"] for e in problem["errors"]}


def test_the_statistics_are_for_staff_only(lab: Lab) -> None:
    for path in ("/api/stats", "/api/stats.csv"):
        assert lab.client.get(path).status_code == 401


def _blocks(text: str) -> dict[str, list[dict[str, str]]]:
    """The CSV's blocks: a title row, a header row, data rows, an empty row."""
    rows = list(csv.reader(io.StringIO(text)))
    blocks: dict[str, list[dict[str, str]]] = {}
    while rows:
        title, header = rows.pop(0)[0], rows.pop(0)
        data = []
        while rows and rows[0]:
            data.append(dict(zip(header, rows.pop(0), strict=True)))
        rows.pop(0)
        blocks[title] = data
    return blocks


def test_the_csv_holds_every_figure_as_its_own_table(history: Lab) -> None:
    response = history.client.get(
        "/api/stats.csv", params={"to": "2017-12-31"}, headers=history.headers()
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="stats-start-2017-12-31.csv"' in response.headers["content-disposition"]
    blocks = _blocks(response.text)
    assert list(blocks) == [
        "totals", "per_year", "per_round", "libraries", "towns", "topics", "posts",
        "minutes_per_kind", "minutes_per_station", "prints", "requests",
    ]  # fmt: skip
    assert blocks["totals"] == [{"visits": "2", "visitors": "21"}]
    assert blocks["per_round"] == [{"name": "R1", "visits": "2", "visitors": "21"}]
    # A spreadsheet would run "=1+1" as a formula: it arrives as text.
    assert [row["name"] for row in blocks["libraries"]] == ["'=1+1", "Bib A"]
    assert [(r["name"], r["kind"], r["minutes"]) for r in blocks["minutes_per_station"]] == [
        ("Switch", "gaming", "60"),
        ("Prusa", "printing", "30"),
        ("Vive", "vr", "30"),
    ]
    assert blocks["prints"] == [{"done": "1", "failed": "1", "cancelled": "0", "open": "0"}]
    json_body = _stats(history, to="2017-12-31")
    assert int(blocks["posts"][0]["published"]) == json_body["posts"]["published"] == 1


def test_a_deleted_station_keeps_its_minutes_under_the_name_it_was_planned_with(
    history: Lab,
) -> None:
    with database.transaction(history.sessions) as session:
        vive = session.scalars(select(Station).where(Station.name == "Vive")).one()
        for plan in session.scalars(select(StoredPlan)):
            plan.inputs = {"stations": {str(vive.id): {"name": "Vive (old)", "kind": "vr"}}}
        session.delete(vive)
    body = _stats(history)
    assert {"kind": "vr", "minutes": 30} in body["minutes_per_kind"]
    assert ("Vive (old)", "vr", 30) in [
        (s["name"], s["kind"], s["minutes"]) for s in body["minutes_per_station"]
    ]


def test_requests_in_the_range_and_their_conversion_to_visits(lab: Lab) -> None:
    """Seven requests over two years; the figures worked out by hand."""
    made = [
        (datetime(2017, 12, 31, 23, 30, tzinfo=UTC), RequestState.ACCEPTED),
        (datetime(2018, 1, 1, 0, 0, tzinfo=UTC), RequestState.ACCEPTED),
        (datetime(2018, 2, 1, tzinfo=UTC), RequestState.DECLINED),
        (datetime(2018, 3, 1, tzinfo=UTC), RequestState.CONFIRMED),
        (datetime(2018, 4, 1, tzinfo=UTC), RequestState.EXPIRED),
        (datetime(2018, 5, 1, tzinfo=UTC), RequestState.NEW),
        (datetime(2018, 12, 31, 23, 59, tzinfo=UTC), RequestState.ACCEPTED),
    ]
    with database.transaction(lab.sessions) as session:
        for at, state in made:
            session.add(
                VisitRequest(
                    state=state, library="Bib", participants=5, language="de",
                    consent_at=at, created_at=at,
                )
            )  # fmt: skip

    everything = _stats(lab)["requests"]
    in_2018 = _stats(lab, **{"from": "2018-01-01", "to": "2018-12-31"})["requests"]
    in_2017 = _stats(lab, to="2017-12-31")["requests"]

    assert everything == {
        "total": 7, "new": 1, "confirmed": 1, "accepted": 3, "declined": 1, "expired": 1,
        "confirmed_by_mail": 5, "acceptance_rate": 0.6,
    }  # fmt: skip
    assert (in_2018["total"], in_2018["accepted"], in_2018["confirmed_by_mail"]) == (6, 2, 4)
    assert in_2018["acceptance_rate"] == 0.5
    assert (in_2017["total"], in_2017["acceptance_rate"]) == (1, 1.0)
    empty = _stats(lab, **{"from": "2030-01-01"})["requests"]
    assert (empty["total"], empty["acceptance_rate"]) == (0, None)
    csv_text = lab.client.get(
        "/api/stats.csv", params={"from": "2018-01-01", "to": "2018-12-31"}, headers=lab.headers()
    ).text
    assert _blocks(csv_text)["requests"] == [
        {
            "total": "6", "new": "1", "confirmed": "1", "accepted": "2", "declined": "1",
            "expired": "1", "confirmed_by_mail": "4", "acceptance_rate": "0.5",
        }
    ]  # fmt: skip
    # The existing figures stay as they were.
    assert _stats(lab)["visits"] == 0
