"""Where each group is now and next, whatever offset the clock's time is written in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from librarylab.live import rotation_payload
from stations.model import Kind
from stations.orm import Station
from visits.model import VisitStatus
from visits.orm import Visit

LAB = ZoneInfo("Europe/Berlin")  # UTC+1 in November
TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9
VISIT = Visit(
    id=1,
    library="Stadtbücherei Eschweiler",
    date=date(2026, 11, 10),
    start=time(10),
    end=time(14),
    status=VisitStatus.CONFIRMED,
)
STATIONS = {
    1: Station(id=1, name="Vive", kind=Kind.VR, capacity=4),
    2: Station(id=2, name="Switch", kind=Kind.GAMING, capacity=4),
}
DOCUMENT: dict[str, Any] = {
    "groups": [{"id": 1, "name": "A", "size": 3}, {"id": 2, "name": "B", "size": 3}],
    "slots": [
        {
            "index": 0,
            "start": "11:00",
            "end": "11:20",
            "assignments": [{"group_id": 1, "station_id": 1}, {"group_id": 2, "station_id": 2}],
        },
        {
            "index": 1,
            "start": "11:25",
            "end": "11:45",
            "assignments": [{"group_id": 1, "station_id": 2}, {"group_id": 2, "station_id": 1}],
        },
    ],
}


@pytest.mark.parametrize(
    ("now", "slot", "next_change", "group_a"),
    [
        # 11:10 in the lab: as text, "10:10+00:00" sorts before "11:00+01:00".
        (datetime(2026, 11, 10, 10, 10, tzinfo=UTC), 0, "11:20", ("Vive", "Switch")),
        # 11:10 in the lab: as text, "19:10+09:00" sorts after "11:20+01:00".
        (datetime(2026, 11, 10, 19, 10, tzinfo=TOKYO), 0, "11:20", ("Vive", "Switch")),
        # Half a second after the first slot, in the changeover.
        (datetime(2026, 11, 10, 10, 20, 0, 500_000, tzinfo=UTC), None, "11:25", (None, "Switch")),
        # The last moment of the second slot.
        (datetime(2026, 11, 10, 10, 44, 59, 999_999, tzinfo=UTC), 1, "11:45", ("Switch", None)),
        # The same moment written in the lab's own offset.
        (datetime(2026, 11, 10, 11, 44, 59, 999_999, tzinfo=LAB), 1, "11:45", ("Switch", None)),
        (datetime(2026, 11, 10, 10, 45, tzinfo=UTC), None, None, (None, None)),
    ],
)
def test_the_slot_now_is_found_by_time_not_by_text(
    now: datetime, slot: int | None, next_change: str | None, group_a: tuple[str | None, ...]
) -> None:
    rotation = rotation_payload(VISIT, DOCUMENT, STATIONS, LAB, now)
    assert rotation["now"]["slot"] == slot
    change = rotation["now"]["next_change"]
    assert change == (f"2026-11-10T{next_change}:00+01:00" if next_change else None)
    a = rotation["now"]["groups"][0]
    assert (a["current"], a["next"]) == group_a


def test_assignments_at_stations_that_need_staff_are_marked() -> None:
    stations = {
        1: Station(id=1, name="Vive", kind=Kind.VR, capacity=4, needs_staff=True),
        2: Station(id=2, name="Switch", kind=Kind.GAMING, capacity=4, needs_staff=False),
    }
    now = datetime(2026, 11, 10, 10, 10, tzinfo=UTC)
    rotation = rotation_payload(VISIT, DOCUMENT, stations, LAB, now)
    marked = [(a["station"], a["needs_staff"]) for a in rotation["slots"][0]["assignments"]]
    assert marked == [("Vive", True), ("Switch", False)]
