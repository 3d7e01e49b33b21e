"""The demo-file upload form in headless Chromium: its script sends the CSRF token as a
header (the CSRF middleware cannot read multipart bodies) and shows refusals in place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.printers.jobs import gcode
from tests.served import PASSWORD, Served
from tests.services import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    service = Served(tmp_path, mqtt_enabled="false")
    service.start()
    yield service
    service.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page()
        browser.close()


def test_staff_upload_a_demo_file_from_the_page(served: Served, page: Page, tmp_path: Path) -> None:
    page.goto(f"{served.base}/login")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{served.base}/printers")

    wrong = tmp_path / "boot.stl"
    wrong.write_text("solid boot\n")
    form = page.locator("form[action='/printers/files/new']")
    form.locator("input[name=name]").fill("Boot")
    form.locator("input[name=file]").set_input_files(str(wrong))
    form.locator("button[type=submit]").click()
    alert = form.locator("[role=alert]")
    alert.wait_for()
    assert "Nur G-Code-Dateien" in alert.inner_text()  # German, in place, nothing kept
    assert served.api("GET", "/api/print-files") == []

    boat = tmp_path / "boot.gcode"
    boat.write_bytes(b";TIME:720\n" + gcode(1))
    form.locator("input[name=file]").set_input_files(str(boat))
    form.locator("button[type=submit]").click()
    page.locator("table.files").wait_for()
    assert "Boot" in page.locator("table.files").inner_text()
    assert "12.0 min" in page.locator("table.files").inner_text()
    stored = served.api("GET", "/api/print-files")
    assert [f["name"] for f in stored] == ["Boot"]
