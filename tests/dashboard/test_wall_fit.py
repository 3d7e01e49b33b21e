"""The wall fits its screen: every tile of a full lab is on screen, whole, in landscape and
portrait full HD, in headless Chromium fed by a real service over a real Mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard.topics import Topics
from printers.model import Duty, Snapshot
from tests.librarylab.test_cli import run
from tests.mqtt import publish_retained
from tests.served import Served, running_visit
from tests.services import Mosquitto

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PREFIX = "wallfit"
SCREENS = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
SMALLEST_TEXT = 12  # px, details such as temperatures
GROUP_NAME = 30  # px, read from across the room

# The largest lab the wall promises to fit: 30 stations, 6 printers, 8 groups.
VR = [
    "VR-Brille HTC Vive Pro 2",
    "Meta Quest 3 Nr. 1",
    "Meta Quest 3 Nr. 2",
    "Meta Quest 3 Nr. 3",
    "Pico 4 Ultra",
    "Valve Index",
    "PlayStation VR2",
    "VR-Cardboards (Klassensatz)",
    "HP Reverb G2",
    "Oculus Rift S",
]
GAMING = [
    "Nintendo Switch OLED",
    "Nintendo Switch Lite",
    "PlayStation 5",
    "PlayStation 4 Pro",
    "Xbox Series X",
    "Xbox One",
    "Steam Deck",
    "Retro-Konsole SNES Mini",
    "Gaming-PC mit Lenkrad",
    "Arcade-Automat",
]
PRINTING = [
    "3D-Drucker Ultimaker S5",
    "3D-Drucker Ultimaker 2+",
    "3D-Drucker Prusa MK4",
    "3D-Drucker Prusa i3 MK3S+",
    "3D-Drucker Bambu Lab X1 Carbon",
    "3D-Drucker Bambu Lab A1 mini",
    "3D-Drucker MakerBot Replicator",
    "3D-Drucker Creality Ender 3",
    "3D-Drucker Anycubic Kobra 2",
    "3D-Drucker Snapmaker J1",
]
BROKEN = {
    "Valve Index": "Linse zerkratzt, Ersatz ist bestellt",
    "Xbox One": "Controller fehlen",
    "3D-Drucker MakerBot Replicator": "Düse verstopft, Ersatzteil bestellt",
}
OFFLINE = ["PlayStation 5", "Gaming-PC mit Lenkrad", "HP Reverb G2"]
ONLINE = ["Meta Quest 3 Nr. 1", "Nintendo Switch OLED", "Steam Deck", "Pico 4 Ultra"]


@dataclass
class Lab:
    name: str
    served: Served
    display: str
    stations: int
    printers: int
    groups: int
    offline: int

    @property
    def wall(self) -> str:
        return f"{self.served.base}/wall?token={self.display}"


def noon_somewhere() -> str:
    """A time zone where it is about noon now, so a visit can be running at any hour."""
    offset = 12 - datetime.now(UTC).hour
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def printer(number: int, name: str, snapshot: Snapshot, duty: Duty) -> dict[str, Any]:
    """A printer's state as its coordinator publishes it."""
    return {"id": number, "name": name, **snapshot.as_dict(), **duty.as_dict()}


def full_printers(now: datetime) -> list[dict[str, Any]]:
    """Six printers in every state a tile can show."""

    def hot(state: str, file: str, progress: float, elapsed: int, left: int) -> Snapshot:
        return Snapshot(state, "", file, progress, elapsed, left, (214.8, 215.0), (59.9, 60.0), now)

    def job(number: int, state: str, file: str, group: str) -> dict[str, Any]:
        return {"id": number, "state": state, "file": file, "visit_id": 1, "group": group}

    def cold(state: str, detail: str = "") -> Snapshot:
        return Snapshot(state, detail, nozzle=(23.0, 0.0), bed=(22.5, 0.0), last_read=now)

    return [
        printer(
            101,
            "Ultimaker S5",
            hot("printing", "librarylab-job-41-9f3a1c.gcode", 42.5, 310, 420),
            Duty(False, job(41, "printing", "Schlüsselanhänger mit Logo (Beispiel)", "A")),
        ),
        printer(
            102,
            "Prusa MK4",
            hot("printing", "librarylab-job-42-77b0e2.gcode", 87.0, 900, 95),
            Duty(False, job(42, "printing", "Kleines Boot (Beispiel)", "C")),
        ),
        printer(
            103,
            "Bambu Lab X1 Carbon",
            hot("paused", "benchy_0.2mm_PLA.gcode", 63.0, 1200, 700),
            Duty(True),
        ),
        printer(
            104,
            "Ultimaker 2+",
            cold("operational"),
            Duty(False, job(40, "awaiting_bed_clear", "Kleines Boot (Beispiel)", "B")),
        ),
        printer(
            105,
            "Prusa i3 MK3S+",
            cold("error", "Thermal Runaway: heater check failed"),
            Duty(True),
        ),
        printer(
            106,
            "Creality Ender 3",
            Snapshot("offline", last_read=now - timedelta(minutes=3)),
            Duty(True),
        ),
    ]


def demo_printers(now: datetime) -> list[dict[str, Any]]:
    """The demo's two working 3D printers with OctoPrint attached, one printing."""
    return [
        printer(
            201,
            "Ultimaker 2+",
            Snapshot("printing", "", "x.gcode", 35.0, 250, 460, (210.0, 210.0), (60.0, 60.0), now),
            Duty(False, {"id": 1, "state": "printing", "file": "Kleines Boot (Beispiel)"}),
        ),
        printer(202, "Prusa i3 MK3", Snapshot("operational", "", last_read=now), Duty(True)),
    ]


def publish(broker: Mosquitto, messages: dict[str, dict[str, Any]]) -> None:
    """Retained messages as the printers' coordinators and the station PCs send them."""
    publish_retained(broker.url, messages.items(), f"{PREFIX}/#", "wallfit-feed")


def full_lab(served: Served, broker: Mosquitto, zone: str) -> tuple[int, int, int, int]:
    topics, ids = Topics(PREFIX), {}
    for kind, names in (("vr", VR), ("gaming", GAMING), ("printing", PRINTING)):
        for name in names:
            body: dict[str, Any] = {"name": name, "kind": kind, "capacity": 4}
            if name in BROKEN:
                body |= {"status": "out_of_service", "status_reason": BROKEN[name]}
            ids[name] = served.api("POST", "/api/stations", json=body)["id"]
    visit = served.api(
        "POST",
        "/api/visits",
        json=running_visit(
            datetime.now(ZoneInfo(zone)),
            library="Stadtbibliothek Mönchengladbach",
            participants=30,
            topic="Makerspaces und Gaming als Angebot für Jugendliche",
        ),
    )
    plan = served.api("POST", f"/api/visits/{visit['id']}/plan", json={"group_count": 8})
    assert len(plan["groups"]) == 8
    now = datetime.now(UTC)
    messages = {topics.printer_state(p["id"]): p for p in full_printers(now)}
    for name in OFFLINE:
        messages[topics.station_heartbeat(ids[name])] = {"state": "offline"}
    for name in ONLINE:
        messages[topics.station_heartbeat(ids[name])] = {"state": "online"}
    publish(broker, messages)
    return len(ids), 6, 8, len(OFFLINE)


def demo_lab(served: Served, broker: Mosquitto, zone: str) -> tuple[int, int, int, int]:
    topics = Topics(PREFIX)
    publish(broker, {topics.printer_state(p["id"]): p for p in demo_printers(datetime.now(UTC))})
    return 9, 2, 3, 0


@pytest.fixture(scope="module", params=["full", "demo"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp(f"wallfit-{request.param}")
    broker = Mosquitto(folder / "mosquitto")
    broker.start()
    zone = noon_somewhere()
    served = Served(
        folder / "lab",
        mqtt_url=broker.url,
        mqtt_prefix=PREFIX,
        timezone=zone,
        heartbeat_max_age_seconds="3600",
    )
    display = run(["display-token", "create", "Foyer"], served.env).stdout.splitlines()[-1]
    if request.param == "demo":
        assert run(["demo"], served.env).returncode == 0
    served.start()
    try:
        fill = full_lab if request.param == "full" else demo_lab
        stations, printers, groups, offline = fill(served, broker, zone)
        yield Lab(request.param, served, display, stations, printers, groups, offline)
    finally:
        served.stop()
        broker.stop()


# Two frames: whatever the page does after a change has been laid out.
NEXT_FRAMES = (
    "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
)


def open_wall(browser: Browser, lab: Lab, screen: str) -> Page:
    width, height = SCREENS[screen]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(lab.wall)
    expected = {
        ".station": lab.stations,
        ".printer": lab.printers,
        ".group": lab.groups,
        '.station[data-state="offline"]': lab.offline,
    }
    try:
        for selector, count in expected.items():
            expect(page.locator(selector)).to_have_count(count, timeout=15_000)
    except AssertionError:
        found = {s: page.locator(s).count() for s in expected}
        page.close()
        raise AssertionError(f"the wall shows {found}, not {expected}") from None
    page.evaluate(NEXT_FRAMES)
    return page


MEASURE = """() => {
  const tiles = [...document.querySelectorAll(".station, .printer, .group, .countdown")];
  const root = document.documentElement;
  return {
    width: innerWidth,
    height: innerHeight,
    scrollWidth: Math.max(root.scrollWidth, document.body.scrollWidth),
    scrollHeight: Math.max(root.scrollHeight, document.body.scrollHeight),
    tiles: tiles.map((tile) => {
      const box = tile.getBoundingClientRect();
      // Anything inside the tile that reaches past its edges is cut off or spills over.
      const spill = [...tile.querySelectorAll("*")].find((inner) => {
        const r = inner.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && (r.left < box.left - 1 || r.top < box.top - 1 ||
          r.right > box.right + 1 || r.bottom > box.bottom + 1);
      });
      // No box around the tile cuts it off (overflow: hidden is no way to fit) ...
      let clippedBy = null;
      for (let outer = tile.parentElement; outer && !clippedBy; outer = outer.parentElement) {
        const style = getComputedStyle(outer), r = outer.getBoundingClientRect();
        const clips = style.overflowX !== "visible" || style.overflowY !== "visible";
        if (clips && (box.left < r.left - 1 || box.top < r.top - 1 ||
                      box.right > r.right + 1 || box.bottom > r.bottom + 1)) {
          clippedBy = outer.tagName.toLowerCase() + (outer.className ? "." + outer.className : "");
        }
      }
      // ... and nothing lies on top of it: the middle and each edge show the tile itself.
      const middle = [(box.left + box.right) / 2, (box.top + box.bottom) / 2];
      const points = [middle, [middle[0], box.top + 2], [middle[0], box.bottom - 2],
                      [box.left + 2, middle[1]], [box.right - 2, middle[1]]];
      const covered = points.some(([x, y]) => {
        const hit = document.elementFromPoint(x, y);
        return hit === null || !tile.contains(hit);
      });
      // Readable from across the room: the size of the smallest and largest text.
      const sizes = [tile, ...tile.querySelectorAll("*")]
        .filter((el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
        .map((el) => parseFloat(getComputedStyle(el).fontSize));
      const id = tile.dataset.station || tile.dataset.printer || tile.dataset.group || "";
      return {
        name: `${tile.className} ${id}`.trim(),
        left: box.left, top: box.top, right: box.right, bottom: box.bottom,
        scrollWidth: tile.scrollWidth, clientWidth: tile.clientWidth,
        scrollHeight: tile.scrollHeight, clientHeight: tile.clientHeight,
        spill: spill ? spill.outerHTML.slice(0, 120) : null,
        clippedBy,
        covered,
        smallest: Math.min(...sizes),
        largest: Math.max(...sizes),
      };
    }),
  };
}"""


def assert_fits(seen: dict[str, Any], lab: Lab) -> None:
    width, height, tiles = seen["width"], seen["height"], seen["tiles"]
    assert seen["scrollWidth"] <= width, "the page scrolls sideways"
    assert seen["scrollHeight"] <= height, "the page scrolls down"
    assert len(tiles) == lab.stations + lab.printers + lab.groups + 1
    for tile in tiles:
        name = tile["name"]
        inside = (
            tile["left"] >= 0
            and tile["top"] >= 0
            and tile["right"] <= width
            and tile["bottom"] <= height
        )
        assert inside, f"{name} lies outside the {width}×{height} screen: {tile}"
        assert tile["scrollWidth"] <= tile["clientWidth"] + 1, f"{name}: text cut off at the side"
        assert tile["scrollHeight"] <= tile["clientHeight"] + 1, f"{name}: text cut off below"
        assert tile["spill"] is None, f"{name}: {tile['spill']} reaches past the tile"
        assert tile["clippedBy"] is None, f"{name} is cut off by {tile['clippedBy']}: {tile}"
        assert not tile["covered"], f"{name} is partly hidden under something else: {tile}"
        assert tile["smallest"] >= SMALLEST_TEXT, f"{name}: text too small to read: {tile}"
        if name.startswith("group"):
            assert tile["largest"] >= GROUP_NAME, f"{name}: the group's name is too small: {tile}"
    for number, one in enumerate(tiles):
        for other in tiles[number + 1 :]:
            across = min(one["right"], other["right"]) - max(one["left"], other["left"])
            down = min(one["bottom"], other["bottom"]) - max(one["top"], other["top"])
            assert across <= 1 or down <= 1, f"{one['name']} overlaps {other['name']}"


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_tile_is_whole_and_on_screen(browser: Browser, lab: Lab, screen: str) -> None:
    page = open_wall(browser, lab, screen)
    try:
        seen = page.evaluate(MEASURE)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"wall-{lab.name}-{screen}.png"))
    finally:
        page.close()
    assert_fits(seen, lab)


def test_the_wall_fits_again_when_the_screen_turns(browser: Browser, lab: Lab) -> None:
    page = open_wall(browser, lab, "portrait")
    try:
        width, height = SCREENS["landscape"]
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate(NEXT_FRAMES)
        seen = page.evaluate(MEASURE)
    finally:
        page.close()
    assert_fits(seen, lab)
