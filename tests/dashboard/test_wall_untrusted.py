"""Anyone who can publish to the broker feeds the wall: what they send is data, never markup.

Headless Chromium on a real service over a real Mosquitto. Every hostile value tries to run
script (``window.__pwned``) or to add an element (an ``<img>`` or ``<svg>``) to the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from dashboard.topics import Topics
from tests.librarylab.test_cli import run
from tests.mqtt import publish_retained
from tests.served import Served
from tests.services import Mosquitto

PREFIX = "untrusted"
TOPICS = Topics(PREFIX)


def hostile(mark: int) -> str:
    """Markup that runs script (and leaves an element behind) when put into innerHTML."""
    return f'"><img src=x onerror="window.__pwned={mark}"><svg onload="window.__pwned={mark}">'


@dataclass
class Lab:
    served: Served
    broker: Mosquitto
    display: str
    stations: list[int]

    @property
    def wall(self) -> str:
        return f"{self.served.base}/wall?token={self.display}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("untrusted")
    broker = Mosquitto(folder / "mosquitto")
    broker.start()
    served = Served(folder / "lab", mqtt_url=broker.url, mqtt_prefix=PREFIX)
    display = run(["display-token", "create", "Foyer"], served.env).stdout.splitlines()[-1]
    served.start()
    try:
        stations = [
            served.api("POST", "/api/stations", json={"name": name, "kind": kind, "capacity": 2})[
                "id"
            ]
            for name, kind in (("Xbox One", "gaming"), ("Meta Quest 3", "vr"))
        ]
        yield Lab(served, broker, display, stations)
    finally:
        served.stop()
        broker.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    one = browser.new_page(viewport={"width": 1920, "height": 1080})
    yield one
    one.close()


def publish(broker: Mosquitto, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Retained messages, in this order, as an intruder on the broker sends them."""
    publish_retained(broker.url, messages, f"{PREFIX}/#", "intruder")


def printer(number: Any, name: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": number,
        "name": name,
        "state": "printing",
        "detail": "",
        "file": "boot.gcode",
        "progress": 40.0,
        "elapsed_seconds": 300,
        "left_seconds": 400,
        "nozzle": [215.0, 215.0],
        "bed": [60.0, 60.0],
        "last_read": None,
        "progress_since": None,
        "bed_clear": False,
        "job": None,
    } | fields


def rotation(visit_id: int, now: datetime) -> dict[str, Any]:
    start, end = now - timedelta(minutes=5), now + timedelta(minutes=15)
    return {
        "visit_id": visit_id,
        "library": hostile(20),
        "groups": [{"id": 1, "name": hostile(21), "size": hostile(22)}],
        "slots": [
            {
                "index": 0,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "assignments": [
                    {
                        "group_id": 1,
                        "group": hostile(23),
                        "size": hostile(24),
                        "station_id": 1,
                        "station": hostile(25),
                        "kind": hostile(26),
                    }
                ],
            }
        ],
        "now": {"slot": 0, "next_change": end.isoformat(), "groups": []},
    }


def assert_nothing_ran(page: Page) -> None:
    page.wait_for_timeout(1_500)  # the wall redraws every second
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img, svg, script:not(#wall-config):not([src])").count() == 0


def test_hostile_retained_messages_run_no_script_on_the_wall(lab: Lab, page: Page) -> None:
    now = datetime.now(UTC)
    publish(
        lab.broker,
        [
            (
                TOPICS.printer_state(902),
                printer('902"><img src=x onerror="window.__pwned=1">', "x"),
            ),
            (TOPICS.printer_state(903), printer(903, hostile(2), progress=hostile(3))),
            (TOPICS.printer_state(905), printer(905, "Ender", state=hostile(4), file=hostile(5))),
            (
                TOPICS.station_state(77),
                {"id": hostile(6), "name": hostile(7), "kind": hostile(8), "status": "available"},
            ),
            (TOPICS.rotation(999), rotation(999, now)),
            (TOPICS.printer_state(904), printer(904, "Prusa MK4")),  # last: the legitimate one
        ],
    )
    page.goto(lab.wall)
    page.locator('[data-printer="904"]').wait_for(timeout=10_000)
    for station in lab.stations:
        page.locator(f'[data-station="{station}"]').wait_for(timeout=10_000)
    assert "Prusa MK4" in page.locator('[data-printer="904"]').inner_text()
    assert_nothing_ran(page)


def stream(snapshot: dict[str, Any]) -> str:
    broker = {"connected": True, "since": datetime.now(UTC).isoformat()}
    return (
        f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n"
        f"event: broker\ndata: {json.dumps(broker)}\n\n"
    )


def test_the_wall_shows_every_value_as_text(lab: Lab, page: Page) -> None:
    """The page alone, fed a stream of hostile values in every field (the service's own
    checks are bypassed): each appears as the text it is."""
    now = datetime.now(UTC)
    station = {
        "id": hostile(30),
        "name": hostile(31),
        "kind": hostile(32),
        "status": "out_of_service",
        "status_reason": hostile(33),
        "agent": "none",
        "last_seen": None,
    }
    snapshot: dict[str, Any] = {
        "service": None,
        "current": {
            "current": {"id": 999, "library": hostile(34), "topic": hostile(35)},
            "next": None,
            "today": [],
        },
        "rotations": {"999": rotation(999, now)},
        "stations": {"1": station, "2": {"id": 2, "name": "Xbox One", "kind": "gaming"}},
        "printers": {
            "1": printer(
                hostile(40),
                hostile(41),
                progress=hostile(42),
                elapsed_seconds=hostile(43),
                left_seconds=hostile(44),
                nozzle=[hostile(45), 1],
                job={"state": hostile(46), "file": hostile(47), "group": hostile(48)},
            ),
            "2": printer(2, "Prusa MK4", state=hostile(49)),
            "3": printer(
                3,
                "Ultimaker",
                state="key_sealed",
                detail="sealed under another key",
                bed_clear=True,
            ),
        },
    }

    def events(route: Route) -> None:
        route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream"}, body=stream(snapshot)
        )

    page.route("**/wall/events**", events)
    page.goto(lab.wall)
    page.locator('[data-printer="2"]').wait_for(timeout=10_000)
    page.locator('[data-station="2"]').wait_for(timeout=10_000)
    assert "Prusa MK4" in page.locator('[data-printer="2"]').inner_text()
    sealed = page.locator('[data-printer="3"]').inner_text()
    assert "API-Schlüssel neu eingeben" in sealed  # the label, in the wall's language alone
    assert "sealed under another key" not in sealed
    assert hostile(31) in page.locator("#stations").inner_text()
    assert hostile(34) in page.locator("#visit").inner_text()
    assert_nothing_ran(page)


def test_a_revoked_link_empties_the_wall_and_says_why(lab: Lab, page: Page) -> None:
    """The service ends a revoked link's stream with ``revoked``: the wall drops what it
    showed and does not reconnect."""
    snapshot = {
        "service": None,
        "current": None,
        "rotations": {},
        "stations": {"2": {"id": 2, "name": "Xbox One", "kind": "gaming"}},
        "printers": {},
    }
    calls: list[str] = []

    def events(route: Route) -> None:
        calls.append(route.request.url)
        body = stream(snapshot) + "event: revoked\ndata: {}\n\n"
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route("**/wall/events**", events)
    page.goto(lab.wall)
    banner = page.locator("#banner")
    banner.wait_for(state="visible", timeout=10_000)
    assert "Anzeige-Link wurde widerrufen" in banner.inner_text()
    assert page.locator("[data-station]").count() == 0
    page.wait_for_timeout(4_000)  # EventSource would retry after ~3 s
    assert len(calls) == 1
