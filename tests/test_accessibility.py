"""Every page, judged by axe-core in headless Chromium against WCAG 2.1 level A and AA, in
German and in English: the login, every staff page reachable from the navigation, and the
wall with live data."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, sync_playwright

from tests.librarylab.test_cli import run
from tests.pages import browse
from tests.served import PASSWORD, Served
from tests.services import CHROMIUM, CHROMIUM_ARGS, free_port

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
AXE = Axe()


HEADER_FITS = """(() => {
    const header = document.querySelector("header.top");
    return !header || header.scrollWidth <= header.clientWidth;
})()"""


def _judge(page: Page, where: str) -> list[str]:
    """axe-core's WCAG 2.1 AA violations on the page as it is now, one line per node."""
    results: dict[str, Any] = AXE.run(page, options=WCAG_21_AA).response
    return [
        f"{where}: {violation['id']} ({violation['impact']}): {node['target']} — "
        f"{node.get('failureSummary', '').splitlines()[-1].strip()}"
        for violation in results["violations"]
        for node in violation["nodes"]
    ]


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_page_meets_wcag_21_aa(tmp_path: Path, language: str) -> None:
    served = Served(
        tmp_path,
        mqtt_embedded_port=str(free_port()),
        mqtt_prefix="a11y",
        default_language=language,
    )
    assert run(["demo"], served.env).returncode == 0
    served.env["LIBRARYLAB_REQUEST_MIN_FILL_SECONDS"] = "0"
    display = run(["display-token", "create", "Foyer"], served.env).stdout.splitlines()[-1]
    served.start()
    problems: list[str] = []
    try:
        for days, state in ((9, "free"), (16, "requested")):  # dates on the request page
            day = (date.today() + timedelta(days=days)).isoformat()
            body = {"date": day, "status": state, "library": "Stadtbibliothek Neuss"}
            served.api("POST", "/api/visits", json=body | {"round": "Runde 9", "participants": 5})
        planned = next(
            v["id"]
            for v in served.api("GET", "/api/visits")
            if served.post(f"/api/visits/{v['id']}/plan").status_code == 200
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(f"{served.base}/login")
            problems += _judge(page, "/login")
            invited = served.api("POST", "/api/users", json={"name": "nina"})  # a one-time link
            invite = "/invite/" + invited["invitation"]["link"].rsplit("/invite/", 1)[1]
            public = ("/request", "/privacy", "/request/sent", invite, "/invite/not-a-link")
            for path in public:  # no login
                page.goto(f"{served.base}{path}")
                problems += _judge(page, path)
            page.goto(f"{served.base}/request")
            page.fill("input[name=library]", "x")
            page.evaluate("document.querySelector('form[action=\"/request\"]').noValidate = true")
            page.click("form[action='/request'] button[type=submit]")
            page.get_by_role("alert").wait_for()
            problems += _judge(page, "/request (an entry to fix)")
            page.goto(f"{served.base}/login")
            page.fill("input[name=name]", "ada")
            page.fill("input[name=password]", "wrong-password")
            page.click("button[type=submit]")
            problems += _judge(page, "/login (wrong password)")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r".*/visits$"))

            seen = []
            for path, _answer in browse(
                page, served.base, [f"/visits/{planned}/plan", "/visits"], 1
            ):
                seen.append(path)
                problems += _judge(page, path)
                if not page.evaluate(HEADER_FITS):  # WCAG 1.4.10: nothing cut off at the side
                    problems.append(f"{path}: the page header is wider than the window")

            wall = browser.new_page(viewport={"width": 1920, "height": 1080})
            wall.goto(f"{served.base}/wall?token={display}")
            wall.locator("[data-station]").first.wait_for(timeout=15_000)
            problems += _judge(wall, "/wall")
            browser.close()
    finally:
        served.stop()
    assert len(seen) >= 12, seen
    assert "/audit" in seen  # the admins' audit trail, with the demo's records
    assert problems == [], "\n".join(problems)
