"""The print corner's staff page in headless Chromium: the upload form's script (it sends
the CSRF token as a header: the CSRF middleware cannot read multipart bodies) and the live
refresh of printers and jobs while staff work at a real OctoPrint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.printers.jobs import gcode
from tests.served import PASSWORD, Served
from tests.services import CHROMIUM, CHROMIUM_ARGS, OctoPrint


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


def log_in(served: Served, page: Page) -> None:
    page.goto(f"{served.base}/login")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{served.base}/printers")


def test_staff_upload_a_demo_file_from_the_page(served: Served, page: Page, tmp_path: Path) -> None:
    log_in(served, page)

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


def test_the_page_follows_a_print_and_staff_confirm_the_bed(
    served: Served, page: Page, octoprint: OctoPrint
) -> None:
    printer = served.add_printer(octoprint)
    file_id = served.add_file(gcode(3), "boot.gcode", "Kleines Boot")
    job = served.api("POST", "/api/print-jobs", json={"file_id": file_id, "printer_id": printer})
    log_in(served, page)
    row = page.locator(f'tr[data-job="{job["id"]}"]')
    assert "wartet" in row.inner_text()
    bed_button = page.locator(f'form[action="/printers/{printer}/bed-cleared"] button')
    bed_button.wait_for()
    bed_button.click()
    # No reload from here on: the page refreshes its printers and jobs by itself.
    page.wait_for_load_state()
    page.evaluate("window.stillTheSamePage = true")
    row = page.locator(f'tr[data-job="{job["id"]}"]')
    row.filter(has_text="druckt").wait_for(timeout=15_000)
    row.filter(has_text="Bett räumen").wait_for(timeout=30_000)
    assert page.evaluate("window.stillTheSamePage") is True
    assert octoprint.api_key not in page.content()
    bed_button.wait_for(timeout=10_000)
    bed_button.click()
    assert "erledigt" in page.locator(f'tr[data-job="{job["id"]}"]').inner_text()
