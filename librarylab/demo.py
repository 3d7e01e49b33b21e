"""Demo data: a plausible lab and the real 2017/2018 program of the Düsseldorf LibraryLab."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printers.files import add_file
from scheduler.service import Defaults, PlanOptions, make_plan
from stations.model import Kind, Status
from stations.orm import Station
from stations.service import create_station
from visits.model import Post, PostKind, VisitStatus
from visits.orm import Visit
from visits.service import create_visit

ROUND_1 = "Coworking-Runde 1"
ROUND_2 = "Coworking-Runde 2"
ROUND_OPEN = "Coworking-Runde 3"  # the round whose dates libraries can still ask for
FREE_DATES_AHEAD = 3  # free Wednesdays in the open round, from two weeks on

STATIONS: list[dict[str, Any]] = [
    {
        "name": "VR-Brille HTC Vive",
        "kind": Kind.VR,
        "capacity": 2,
        "max_group": 3,  # one wears it, the others watch the mirrored screen, then swap
        "needs_staff": True,
    },
    {
        "name": "VR-Brille Oculus Rift",
        "kind": Kind.VR,
        "capacity": 2,
        "max_group": 3,
        "needs_staff": True,
    },
    {"name": "VR-Cardboards", "kind": Kind.VR, "capacity": 4, "needs_staff": False},
    {
        "name": "Nintendo Switch",
        "kind": Kind.GAMING,
        "capacity": 4,
        "max_group": 6,  # four controllers; two more take over in turn
        "needs_staff": False,
    },
    {
        "name": "PlayStation 4",
        "kind": Kind.GAMING,
        "capacity": 4,
        "max_group": 6,  # four controllers; two more take over in turn
        "needs_staff": False,
    },
    {
        "name": "Xbox One",
        "kind": Kind.GAMING,
        "capacity": 4,
        "max_group": 6,  # four controllers; two more take over in turn
        "needs_staff": False,
    },
    {"name": "3D-Drucker Ultimaker 2+", "kind": Kind.PRINTING, "capacity": 4, "needs_staff": True},
    {"name": "3D-Drucker Prusa i3 MK3", "kind": Kind.PRINTING, "capacity": 4, "needs_staff": True},
    {
        "name": "3D-Drucker MakerBot Replicator",
        "kind": Kind.PRINTING,
        "capacity": 3,
        "needs_staff": True,
        "status": Status.OUT_OF_SERVICE,
        "status_reason": "Düse verstopft, Ersatzteil bestellt",
    },
]

_DAY = {
    "start": time(10, 0),
    "end": time(14, 0),
    "hands_on_start": time(11, 0),
    "hands_on_end": time(12, 30),
}

VISITS: list[dict[str, Any]] = [
    {
        "library": "Fachstelle für Öffentliche Bibliotheken NRW",
        "town": "Düsseldorf",
        "date": date(2017, 10, 26),
        "participants": 9,
        "status": VisitStatus.DONE,
        "topic": "Social Media als Vermittlung realer, neuer Angebote im digitalen Bereich",
        "round": ROUND_1,
        "posts": [Post(PostKind.BLOG, "", True)],
    },
    {
        "library": "Stadtbibliothek Bielefeld",
        "town": "Bielefeld",
        "date": date(2017, 11, 23),
        "participants": 9,
        "status": VisitStatus.DONE,
        "topic": "Zukunftskonzepte für Bibliotheken",
        "round": ROUND_1,
        "posts": [Post(PostKind.BLOG, "", True)],
    },
    {
        "library": "Mediothek Krefeld",
        "town": "Krefeld",
        "date": date(2017, 12, 7),
        "participants": 9,
        "status": VisitStatus.DONE,
        "topic": "Warum sind wir unverzichtbar und wie vermitteln wir das?",
        "round": ROUND_1,
        "posts": [Post(PostKind.FACEBOOK, "", True), Post(PostKind.BLOG, "", False)],
    },
    {
        "library": "Stadtbibliothek Euskirchen",
        "town": "Euskirchen",
        "date": date(2018, 1, 31),
        "participants": 9,
        "status": VisitStatus.CONFIRMED,
        "round": ROUND_1,
    },
    {
        "library": "Stadtbücherei Bochum",
        "town": "Bochum",
        "date": date(2018, 2, 15),
        "participants": 9,
        "status": VisitStatus.CONFIRMED,
        "round": ROUND_1,
    },
    {
        "library": "Stadtbibliothek Mönchengladbach",
        "town": "Mönchengladbach",
        "date": date(2018, 3, 22),
        "participants": 9,
        "status": VisitStatus.CONFIRMED,
        "round": ROUND_1,
    },
    {
        "library": "Stadtbücherei Eschweiler",
        "town": "Eschweiler",
        "date": date(2018, 4, 16),
        "participants": 9,
        "status": VisitStatus.CONFIRMED,
        "round": ROUND_2,
    },
    {"date": date(2018, 5, 23), "status": VisitStatus.FREE, "round": ROUND_2},
    {
        "library": "Stadtbibliothek Solingen",
        "town": "Solingen",
        "date": date(2018, 6, 5),
        "participants": 9,
        "status": VisitStatus.CONFIRMED,
        "round": ROUND_2,
    },
]


def is_empty(session: Session) -> bool:
    """True when there are neither stations nor visits."""
    stations = session.scalar(select(func.count()).select_from(Station)) or 0
    visits = session.scalar(select(func.count()).select_from(Visit)) or 0
    return stations + visits == 0


# Placeholders until staff upload their own sliced files: they only move the head and wait
# (no heating, no extrusion), for OctoPrint's Virtual Printer or a dry run.
DEMO_PRINTS = [("Schlüsselanhänger mit Logo (Beispiel)", 12), ("Kleines Boot (Beispiel)", 15)]


def demo_gcode(minutes: int) -> bytes:
    lines = [
        ";FLAVOR:Marlin",
        f";TIME:{minutes * 60}",
        "; LibraryLab demo placeholder: moves and waits only, no heating, no extrusion",
        "G28",
        "G90",
    ]
    for step in range(minutes * 6):
        lines += [f"G0 X{20 + (step % 4) * 10} Y{20 + (step % 3) * 10} F3000", "G4 S10"]
    return ("\n".join(lines) + "\n").encode()


def load_demo(
    session: Session, now: datetime | None = None, data_dir: Path | None = None
) -> tuple[int, int]:
    """Add the demo lab and program; returns (stations, visits) added.

    With ``data_dir``, also two placeholder demo print files. With ``now`` (local time),
    also a visit for today whose hands-on block starts a few minutes later, already planned
    (and, with the files, its demo prints queued), so the wall comes alive at once; and free
    dates ahead, so that the public request page offers some.
    """
    for station in STATIONS:
        create_station(session, station)
    for visit in VISITS:
        create_visit(session, _DAY | visit)
    if data_dir is not None:
        with tempfile.TemporaryDirectory() as folder:
            for number, (name, minutes) in enumerate(DEMO_PRINTS):
                upload = Path(folder) / f"demo-{number}.gcode"
                upload.write_bytes(demo_gcode(minutes))
                add_file(session, data_dir, upload, f"demo-{number}.gcode", name)
    if now is None:
        return len(STATIONS), len(VISITS)
    today = create_visit(session, todays_visit(now))
    make_plan(session, today.id, PlanOptions(), Defaults())
    for day in free_dates_ahead(now.date()):
        create_visit(session, _DAY | {"date": day, "status": VisitStatus.FREE, "round": ROUND_OPEN})
    return len(STATIONS), len(VISITS) + 1 + FREE_DATES_AHEAD


def free_dates_ahead(today: date) -> list[date]:
    """Every other Wednesday from two weeks after ``today``: the open round's free dates."""
    first = today + timedelta(days=14 + (2 - today.weekday()) % 7)
    return [first + timedelta(weeks=2 * n) for n in range(FREE_DATES_AHEAD)]


def todays_visit(now: datetime) -> dict[str, Any]:
    """A visit whose hands-on block (three slots of 20 min) starts three minutes from now."""
    latest = 22 * 60  # late in the evening the demo visit still fits into the day
    begin = min(now.hour * 60 + now.minute + 3, latest)

    def at(minutes: int) -> time:
        minutes = max(0, min(minutes, 23 * 60 + 59))
        return time(minutes // 60, minutes % 60)

    return {
        "library": "Stadtbibliothek Neuss (Demo)",
        "town": "Neuss",
        "date": now.date(),
        "start": at(begin - 30),
        "end": at(begin + 120),
        "hands_on_start": at(begin),
        "hands_on_end": at(begin + 80),
        "participants": 9,
        "status": VisitStatus.CONFIRMED,
        "round": ROUND_2,
        "topic": "Gaming in der Bibliothek",
    }
