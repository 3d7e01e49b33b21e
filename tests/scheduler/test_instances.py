"""Two service instances on one PostgreSQL database never book a station twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date
from datetime import time as clock

import pytest

from librarylab import database
from librarylab.demo import load_demo
from scheduler import service
from tests.conftest import Lab
from visits.model import VisitStatus
from visits.service import create_visit, list_visits


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_same_day_planning_waits_for_the_other_instance(lab: Lab, database_url: str) -> None:
    with database.transaction(lab.sessions) as session:
        load_demo(session)
        create_visit(
            session,
            {
                "library": "Stadtbibliothek Aachen",
                "date": date(2018, 4, 16),
                "participants": 6,
                "status": VisitStatus.CONFIRMED,
                "hands_on_start": clock(11),
                "hands_on_end": clock(12, 30),
            },
        )
        ids = [v.id for v in list_visits(session) if v.date == date(2018, 4, 16)]
    other_engine = database.make_engine(database_url)
    other_instance = database.make_session_factory(other_engine)
    defaults = service.Defaults()

    first = lab.sessions()
    first.begin()
    service.make_plan(first, ids[0], service.PlanOptions(), defaults)  # holds the day's locks

    def plan_second() -> None:
        with database.transaction(other_instance) as session:
            service.make_plan(session, ids[1], service.PlanOptions(), defaults)

    second = threading.Thread(target=plan_second)
    second.start()
    time.sleep(0.5)
    assert second.is_alive(), "the second instance did not wait for the first"
    first.commit()
    first.close()
    second.join(timeout=30)
    assert not second.is_alive()
    other_engine.dispose()

    with lab.sessions() as session:
        plans = [service.get_plan(session, v).document for v in ids]
    booked = Counter(
        (s["start"], a["station_id"]) for p in plans for s in p["slots"] for a in s["assignments"]
    )
    assert max(booked.values()) == 1
    assert all(p["missing"] == [] for p in plans)
