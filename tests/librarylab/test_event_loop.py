"""Slow work (CP-SAT, Pillow, hashing, Argon2, the database) stays off the event loop that
every wall stream, the hub's tick and the printer coordinators share."""

from __future__ import annotations

import inspect
import io
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image
from starlette.routing import BaseRoute

from librarylab.app import create_app
from tests.conftest import STAFF_PASSWORD, Lab, make_settings
from tests.pages import csrf_token, login, submit
from tests.printers.jobs import gcode

# Waiting on its queue is all the wall's stream does; everything else is a plain function.
STREAMS = {"/wall/events"}
# 19 stations where the greedy misses the lower bound for 130 people: CP-SAT plans.
OPEN_DAY = [
    *[("vr", c) for c in (5, 4, 8, 6, 6)],
    *[("gaming", c) for c in (2, 5, 8, 6, 3, 6, 6, 3)],
    *[("printing", c) for c in (2, 5, 4, 6, 6, 3)],
]
OPEN_DAY_VISIT = {
    "library": "Tag der offenen Tür",
    "date": "2031-06-14",
    "start": "09:00",
    "end": "19:00",
    "hands_on_start": "10:00",
    "hands_on_end": "18:00",
    "participants": 130,
    "status": "confirmed",
}


@dataclass
class Pause:
    longest: float = 0.0  # seconds the loop did not get to run


@contextmanager
def loop_watch(client: TestClient) -> Iterator[Pause]:
    """Beats on the app's event loop every 5 ms; the longest pause between two beats."""
    assert client.portal is not None
    stop = threading.Event()
    pause = Pause()

    async def beat() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await anyio.sleep(0.005)
            now = time.monotonic()
            pause.longest = max(pause.longest, now - last)
            last = now

    running = client.portal.start_task_soon(beat)
    try:
        yield pause
    finally:
        stop.set()
        running.result(timeout=10)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an included router, kept whole
        if included is not None:
            yield from api_routes(included.routes)


def test_only_the_wall_stream_is_a_coroutine(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url))
    routes = list(api_routes(app.routes))
    assert len(routes) > 50
    on_the_loop = {r.path for r in routes if inspect.iscoroutinefunction(r.endpoint)}
    assert on_the_loop == STREAMS


def test_planning_on_the_page_leaves_the_loop_free(sqlite_lab: Lab) -> None:
    client, headers = sqlite_lab.client, sqlite_lab.headers()
    for n, (kind, capacity) in enumerate(OPEN_DAY, 1):
        body = {"name": f"{kind} {n}", "kind": kind, "capacity": capacity}
        assert client.post("/api/stations", json=body, headers=headers).status_code == 201
    visit = client.post(
        "/api/visits",
        json=OPEN_DAY_VISIT,
        headers=headers,
    ).json()["id"]
    login(client, "sam", STAFF_PASSWORD)
    page = f"/visits/{visit}/plan"
    with loop_watch(client) as pause:
        started = time.monotonic()
        assert submit(client, page, page, {}).status_code == 303
        took = time.monotonic() - started
    assert client.get(f"/api/visits/{visit}/plan").json()["engine"] == "cp-sat"
    assert pause.longest < took / 2, f"the loop stood still {pause.longest:.3f} s of {took:.3f} s"


def test_a_big_picture_upload_leaves_the_loop_free(sqlite_lab: Lab) -> None:
    client = sqlite_lab.client
    small = Image.linear_gradient("L").resize((256, 256))
    photo = io.BytesIO()
    # 16 megapixels, the most a picture may have; as PNG, so that all of them are decoded.
    Image.merge("RGB", (small, small.rotate(90), small)).resize((4000, 4000)).save(photo, "PNG")
    login(client, "sam", STAFF_PASSWORD)
    token = csrf_token(client, "/printers")
    with loop_watch(client) as pause:
        started = time.monotonic()
        answer = client.post(
            "/printers/files/new",
            headers={"x-csrftoken": token},
            files={
                "file": ("boat.gcode", gcode(1) * 2000, "application/octet-stream"),
                "picture": ("boat.png", photo.getvalue(), "image/png"),
            },
            follow_redirects=False,
        )
        took = time.monotonic() - started
    assert answer.status_code == 303
    assert pause.longest < took / 2, f"the loop stood still {pause.longest:.3f} s of {took:.3f} s"
