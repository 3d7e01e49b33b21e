"""Event-loop stalls: the largest gap between live wall events while staff work.

    .venv/bin/python bench/loop_gap.py [--rate 20] [--repeats 3] [--baseline-seconds 10]

Runs a real ``librarylab serve`` (SQLite, embedded MQTT broker), publishes a station state
to its broker at a fixed rate and reads the wall's event stream with a display link, as a
wall screen does. Every wall stream, the hub's tick and the printer coordinators share the
service's event loop: work that blocks the loop shows as a gap between two events.

Scenarios, each while the events keep coming: (a) nothing else (the baseline), (b) staff
plan a 130-person visit on its plan page (CP-SAT runs: the greedy does not reach the bound
on this lab), (c) staff upload a 16-megapixel picture (the most a picture may have) with a
10 MB demo print file on the 3D-printing page (Pillow, hashing, file copies), (d) a person
logs in (Argon2).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from librarylab.mqtt import BrokerAddress, Bus
from tests.librarylab.test_cli import run
from tests.librarylab.test_event_loop import OPEN_DAY, OPEN_DAY_VISIT
from tests.mqtt import embedded_url
from tests.printers.jobs import gcode
from tests.served import PASSWORD, Served
from tests.services import free_port

PREFIX = "bench"
STATION = 999_999
MARK = re.compile(r"gap(\d+)")
CSRF_FIELD = re.compile(r'name="csrftoken" value="([^"]+)"')
PICTURE_SIZE = (4000, 4000)  # 16 megapixels, the cap of printers.pictures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Publisher:
    """Publishes a numbered station state at a fixed rate (a schedule, not sleeps that drift)."""

    def __init__(self, url: str, rate: float) -> None:
        self.bus = Bus(BrokerAddress.parse(url), client_id="bench-gap", status_topic=None)
        self.interval = 1 / rate
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.bus.start()
        while not self.bus.connected:
            time.sleep(0.05)
        self.thread.start()

    def _run(self) -> None:
        topic = f"{PREFIX}/stations/{STATION}/state"
        started = time.monotonic()
        seq = 0
        while not self.stop.is_set():
            payload = {"id": STATION, "name": "Bench", "kind": "vr", "status": "available"}
            self.bus.publish(topic, payload | {"status_reason": f"gap{seq}"})
            seq += 1
            time.sleep(max(0.0, started + seq * self.interval - time.monotonic()))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.bus.stop()


class Wall:
    """Reads the wall's event stream; keeps the arrival time of every numbered event."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.arrivals: list[float] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        params = {"token": self.token}
        url = f"{self.base}/wall/events"
        with (
            contextlib.suppress(httpx2.TransportError),  # the service stops at the end
            httpx2.stream("GET", url, params=params, timeout=None) as stream,
        ):
            self.ready.set()
            for line in stream.iter_lines():
                if line.startswith("data:") and MARK.search(line):
                    self.arrivals.append(time.monotonic())


@dataclass
class Row:
    scenario: str
    gaps: list[float]
    action_ms: list[float]


def logged_in(base: str) -> httpx2.Client:
    client = httpx2.Client(base_url=base, timeout=120)
    login(client)
    return client


def csrf(client: httpx2.Client, path: str) -> str:
    page = client.get(path)
    found = CSRF_FIELD.search(page.text)
    assert found, f"no CSRF field on {path}: {page.status_code} {page.text[:2000]}"
    return found.group(1)


def login(client: httpx2.Client) -> None:
    token = csrf(client, "/login")
    answer = client.post(
        "/login", data={"name": "ada", "password": PASSWORD, "csrftoken": token, "next": "/"}
    )
    assert answer.status_code == 303, answer.text


def prepare_lab(service: Served) -> int:
    """The open-day lab and a visit of 130 people; the visit's id."""
    for station in service.api("GET", "/api/stations"):
        service.api("DELETE", f"/api/stations/{station['id']}")
    for n, (kind, capacity) in enumerate(OPEN_DAY, 1):
        service.api(
            "POST",
            "/api/stations",
            json={"name": f"{kind} {n}", "kind": kind, "capacity": capacity},
        )
    visit = service.api("POST", "/api/visits", json=OPEN_DAY_VISIT)
    return int(visit["id"])


def picture() -> bytes:
    """A 16-megapixel PNG (a smooth gradient, so the file stays small): as PNG, every pixel
    is decoded (a JPEG is decoded at a smaller scale)."""
    small = Image.linear_gradient("L").resize((256, 256))
    image = Image.merge("RGB", (small, small.rotate(90), small.rotate(180))).resize(PICTURE_SIZE)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def measure(
    wall: Wall, name: str, action: Callable[[], None] | None, repeats: int, idle: float
) -> Row:
    """Gaps between events from a second before the first action to a second after the last."""
    first = len(wall.arrivals)
    time.sleep(1.0)
    durations = []
    if action is None:
        time.sleep(idle)
    else:
        for _ in range(repeats):
            started = time.perf_counter()
            action()
            durations.append((time.perf_counter() - started) * 1000)
            time.sleep(0.5)
    time.sleep(1.0)
    seen = wall.arrivals[first:]
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(seen)]
    return Row(name, gaps, durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="wall events per second")
    parser.add_argument("--repeats", type=int, default=3, help="actions per scenario")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    args = parser.parse_args()
    interval_ms = 1000 / args.rate
    folder = Path(tempfile.mkdtemp(prefix="bench-gap-"))
    port = free_port()
    service = Served(folder, mqtt_embedded_port=str(port), mqtt_prefix=PREFIX)
    display = run(["display-token", "create", "bench"], service.env).stdout.splitlines()[-1]
    print_file = gcode(1) + b"; padding\n" * (10 * 1024 * 1024 // 10)  # about 10 MB
    photo = picture()
    service.start()
    publisher = Publisher(embedded_url(folder / "data", port), args.rate)
    try:
        visit = prepare_lab(service)
        staff = logged_in(service.base)
        wall = Wall(service.base, display)
        wall.thread.start()
        wall.ready.wait(30)
        publisher.start()
        time.sleep(2)  # the snapshot and the first events

        def plan() -> None:
            page = f"/visits/{visit}/plan"
            answer = staff.post(page, data={"csrftoken": csrf(staff, page)})
            assert answer.status_code == 303, answer.text

        def upload() -> None:
            answer = staff.post(
                "/printers/files/new",
                headers={"x-csrftoken": csrf(staff, "/displays")},  # one token per session
                data={"name": "Benchy"},
                files={
                    "file": ("benchy.gcode", print_file, "application/octet-stream"),
                    "picture": ("benchy.png", photo, "image/png"),
                },
            )
            assert answer.status_code == 303, answer.text

        def log_in() -> None:
            with httpx2.Client(base_url=service.base, timeout=60) as person:
                login(person)

        rows = [
            measure(wall, "(a) nothing else (baseline)", None, 0, args.baseline_seconds),
            measure(wall, "(b) plan 130 people (page)", plan, args.repeats, 0),
            measure(wall, "(c) upload 40 MP picture + 10 MB G-code", upload, args.repeats, 0),
            measure(wall, "(d) log in (Argon2)", log_in, args.repeats, 0),
        ]
    finally:
        publisher.close()
        service.stop()
    print(f"{args.rate:.0f} wall events/s, one every {interval_ms:.0f} ms\n")
    print(
        f"{'scenario':42} {'events':>6} {'max gap':>8} {'p99 gap':>8} {'beyond':>7} "
        f"{'action ms (median)':>18}"
    )
    for row in rows:
        biggest = max(row.gaps)
        action = f"{statistics.median(row.action_ms):.0f}" if row.action_ms else "-"
        print(
            f"{row.scenario:42} {len(row.gaps) + 1:6d} {biggest:8.0f} "
            f"{percentile(row.gaps, 0.99):8.0f} {max(0.0, biggest - interval_ms):7.0f} {action:>18}"
        )
    print("\ngaps in ms; beyond: the largest gap minus the publish interval (target ≤ 100 ms)")


if __name__ == "__main__":
    main()
