"""Every staff page, the API documentation and the wall in headless Chromium under the service's
Content-Security-Policy: nothing on them is refused by it, and no script fails."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, sync_playwright

from librarylab.mqtt import BrokerAddress, Bus
from tests.librarylab.test_cli import run
from tests.mqtt import embedded_url
from tests.pages import browse
from tests.served import PASSWORD, Served
from tests.services import CHROMIUM, CHROMIUM_ARGS, free_port

# Runs in every document before its own scripts (Playwright injects it outside the CSP).
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
    ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""
PRINTING = {
    "id": 99,
    "name": "Prusa",
    "state": "printing",
    "progress": 42,
    "elapsed_seconds": 300,
    "left_seconds": 400,
    "file": "boat.gcode",
}


def _keep_error(problems: list[str], message: ConsoleMessage) -> None:
    # Every page names its icon, so the browser never looks for a missing /favicon.ico.
    if message.type == "error":
        problems.append(f"{message.text} at {message.location['url']}")


def _violations(page: Page) -> list[str]:
    return list(page.evaluate("window.__violations || []"))


def test_no_page_the_docs_or_the_wall_break_the_content_security_policy(tmp_path: Path) -> None:
    port = free_port()
    served = Served(tmp_path, mqtt_embedded_port=str(port), mqtt_prefix="csp")
    assert run(["demo"], served.env).returncode == 0
    served.start()
    bus = Bus(
        BrokerAddress.parse(embedded_url(tmp_path / "data", port)),
        client_id=f"test-{uuid.uuid4().hex[:6]}",
        status_topic=None,
    )
    problems: list[str] = []
    try:
        bus.start()
        bus.publish("csp/printers/99/state", PRINTING, retain=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.add_init_script(WATCH)
            page.on("console", lambda m: _keep_error(problems, m))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{served.base}/login")
            page.fill("input[name=name]", "ada")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r".*/visits$"))

            planned = next(
                v["id"]
                for v in served.api("GET", "/api/visits")
                if served.post(f"/api/visits/{v['id']}/plan").status_code == 200
            )
            seen = []
            for path, answer in browse(
                page, served.base, [f"/visits/{planned}/plan", "/visits"], 2
            ):
                seen.append(path)
                assert "script-src 'self'" in answer.headers["content-security-policy"], path
                problems += [f"{path}: {v}" for v in _violations(page)]
            assert any(p.endswith("/plan/print") for p in seen), seen

            page.goto(f"{served.base}/docs")
            page.locator(".swagger-ui .opblock").first.wait_for(timeout=15_000)
            problems += [f"/docs: {v}" for v in _violations(page)]

            page.goto(f"{served.base}/wall")
            tile = page.locator('[data-printer="99"][data-state="printing"]')
            tile.wait_for(timeout=15_000)
            bar = tile.locator(".bar > div")
            width = bar.evaluate("e => e.getBoundingClientRect().width")
            track = tile.locator(".bar").evaluate("e => e.getBoundingClientRect().width")
            time.sleep(0.5)
            problems += [f"/wall: {v}" for v in _violations(page)]
            browser.close()
    finally:
        bus.stop()
        served.stop()
    assert len(seen) >= 12, seen
    assert problems == [], "\n".join(problems)
    assert abs(width - 0.42 * track) < 2  # the progress bar is drawn
