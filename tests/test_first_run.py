"""A newcomer's first run, as the README tells it: ``make run`` on a fresh virtual environment
with the runtime install only, the one-time password from the console, the forced password
change, every staff page in German and English, and the live wall on a display link.

Nothing here uses the test environment's packages inside the service: it runs from its own
virtual environment, made by ``make run`` exactly as a newcomer's is.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from bs4 import BeautifulSoup
from playwright.sync_api import sync_playwright

from librarylab.deps import PASSWORD_PAGE
from tests.pages import crawl
from tests.services import CHROMIUM, CHROMIUM_ARGS, free_port

ROOT = Path(__file__).resolve().parents[1]
INSTALL_SECONDS = 600  # a cold pip cache downloads every runtime dependency
NEW_PASSWORD = "a-newcomers-own-password"
DEMO_STATIONS = 9


@dataclass
class FirstRun:
    """``make run`` in its own process group, with everything it printed so far."""

    process: subprocess.Popen[str]
    base: str
    venv: Path
    output: list[str] = field(default_factory=list)

    def printed(self) -> str:
        return "".join(self.output)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.printed())
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"'make run' never printed {pattern!r}:\n{self.printed()[-4000:]}")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    folder = tmp_path_factory.mktemp("first-run")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIBRARYLAB_", "VIRTUAL_ENV"))}
    env |= {
        "LIBRARYLAB_DATA_DIR": str(folder / "data"),
        "LIBRARYLAB_MQTT_EMBEDDED_PORT": str(free_port()),
    }
    venv = folder / "venv"
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(ROOT), "run", f"VENV={venv}", f"PORT={port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make, pip and the server stop together
    )
    run = FirstRun(process, f"http://127.0.0.1:{port}", venv)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.output.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        run.wait_for(r"Uvicorn running on", INSTALL_SECONDS)
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def test_make_run_installs_the_runtime_only(first_run: FirstRun) -> None:
    python = str(first_run.venv / "bin" / "python")
    for dev_only in ("pytest", "playwright", "hypothesis"):
        found = subprocess.run([python, "-c", f"import {dev_only}"], capture_output=True)
        assert found.returncode != 0, f"{dev_only} is a dev extra, yet 'make run' installed it"
    checked = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def _form_token(client: httpx2.Client, path: str) -> str:
    field = BeautifulSoup(client.get(path).text, "html.parser").select_one("[name=csrftoken]")
    assert field is not None, path
    return str(field["value"])


def test_a_newcomer_walks_through_the_first_run(first_run: FirstRun) -> None:
    password = first_run.wait_for(r"one-time password\s+(\S+)", 5)[1]
    assert "Traceback" not in first_run.printed()
    with httpx2.Client(base_url=first_run.base, timeout=30) as client:
        # Log in with the printed password; the service insists on a new one first.
        answer = client.post(
            "/login",
            data={
                "name": "admin",
                "password": password,
                "csrftoken": _form_token(client, "/login"),
                "next": "/",
            },
        )
        assert answer.status_code == 303, answer.text
        forced = client.get("/stations", follow_redirects=True)
        assert forced.url.path == PASSWORD_PAGE
        assert "Einmalpasswort" in forced.text
        changed = client.post(
            PASSWORD_PAGE,
            data={
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD,
                "csrftoken": _form_token(client, PASSWORD_PAGE),
            },
        )
        assert changed.status_code == 303, changed.text
        assert client.get("/stations").status_code == 200

        # Every page the staff navigation leads to, in both languages.
        counts = {}
        for language in ("de", "en"):
            client.cookies.set("lang", language)
            pages = crawl(client.get, ["/visits"], language)
            for path, read in pages.items():
                assert "Traceback" not in read.text, path
                assert "UndefinedError" not in read.text, path
            navigation = {"/visits", "/visits/calendar", "/stations", "/printers", "/displays"}
            navigation |= {"/users", "/audit", "/account"}  # the first admin's own pages
            assert navigation <= set(pages), sorted(pages)
            counts[language] = len(pages)
        print(f"first run: {counts} pages read without an error")

        # A library, without an account, finds the open round's free dates to ask for.
        with httpx2.Client(base_url=first_run.base, timeout=30) as library:
            for language, heading in (("de", "Besuch anfragen"), ("en", "Request a visit")):
                page = library.get("/request", params={"lang": language})
                assert page.status_code == 200, page.text
                assert heading in page.text
                offered = BeautifulSoup(page.text, "html.parser").select("input[name=visit_id]")
                assert len([o for o in offered if o.get("value")]) == 3  # the demo's free dates

        # A display link for the wall screen, made on the staff page.
        client.cookies.set("lang", "de")
        made = client.post(
            "/displays", data={"name": "Foyer", "csrftoken": _form_token(client, "/displays")}
        )
        assert made.status_code == 200, made.text
        link = BeautifulSoup(made.text, "html.parser").select_one("#new-link")
        assert link is not None
        wall = str(link["href"])

        # A colleague invited on the staff page gets a link to this very service.
        invited = client.post(
            "/users/new",
            data={"name": "kim", "role": "staff", "csrftoken": _form_token(client, "/users/new")},
        )
        assert invited.status_code == 200, invited.text
        assert f"{first_run.base}/invite/" in invited.text

        mqtt = _healthy(client)["mqtt"]
        assert isinstance(mqtt, dict)
        assert (mqtt["enabled"], mqtt["broker"], mqtt["connected"]) == (True, "embedded", True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            screen = browser.new_page(viewport={"width": 1920, "height": 1080})
            screen.goto(wall if wall.startswith("http") else first_run.base + wall)
            screen.locator("[data-station]").nth(DEMO_STATIONS - 1).wait_for(timeout=15_000)
            screen.locator(".group").nth(2).wait_for(timeout=15_000)  # the demo visit's groups
            assert "Stadtbibliothek Neuss" in screen.locator("#visit").inner_text()
            time.sleep(2)  # the banner would show a lost or stale broker by now
            banner = screen.locator("#banner")
            assert banner.is_hidden(), banner.inner_text()
            assert screen.locator("[data-station]").count() == DEMO_STATIONS
        finally:
            browser.close()


def _healthy(client: httpx2.Client) -> dict[str, object]:
    """The health answer once the embedded broker took the service's connection."""
    deadline = time.monotonic() + 15
    while True:
        answer = client.get("/api/health")
        body: dict[str, object] = answer.json()
        if body["status"] == "ok" or time.monotonic() > deadline:
            assert answer.status_code == 200
            assert body["status"] == "ok", body
            return body
        time.sleep(0.5)
