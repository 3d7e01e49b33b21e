"""The public request form in headless Chromium, in German, against the real service with a
real SMTP server: a library asks for a date and confirms by mail; a robot fills the
honeypot; a date taken while the form was open; too many requests from one address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, select

from booking.orm import VisitRequest
from tests.booking.test_intake import plain
from tests.mail.smtp_server import SmtpServer
from tests.served import Served


@dataclass
class Lab:
    served: Served
    smtp: SmtpServer
    database_url: str

    def add_date(self, days: int) -> int:
        body = {
            "date": (date.today() + timedelta(days=days)).isoformat(),
            "start": "10:00",
            "end": "14:00",
            "hands_on_start": "11:30",
            "hands_on_end": "13:00",
            "status": "free",
            "round": "Coworking-Runde 5",
        }
        return int(self.served.api("POST", "/api/visits", json=body)["id"])

    def stored_requests(self) -> int:
        return len(self.states())

    def states(self) -> list[str]:
        """The state of each stored request, oldest first."""
        engine = create_engine(self.database_url)
        with engine.connect() as connection:
            found = connection.scalars(select(VisitRequest.state).order_by(VisitRequest.id))
            states = [str(state) for state in found]
        engine.dispose()
        return states


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("request-form")
    smtp = SmtpServer()
    smtp.start()
    served = Served(
        folder,
        smtp_url=smtp.url,
        mail_from="lab@example.org",
        request_min_fill_seconds="0",
        default_language="de",
    )
    served.env["LIBRARYLAB_PUBLIC_URL"] = served.base
    served.start()
    try:
        yield Lab(served, smtp, f"sqlite:///{folder / 'lab.sqlite3'}")
    finally:
        served.stop()
        smtp.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="de-DE")
    one = context.new_page()
    yield one
    context.close()


def fill(page: Page, email: str, date_id: int | None = None) -> None:
    if date_id is not None:
        page.check(f"input[name=visit_id][value='{date_id}']")
    page.fill("input[name=library]", "Stadtbücherei Hilden")
    page.fill("input[name=town]", "Hilden")
    page.fill("input[name=contact_name]", "Hanna Hild")
    page.fill("input[name=contact_email]", email)
    page.fill("input[name=participants]", "14")
    page.get_by_label("Gaming in der Bibliothek").check()
    page.fill("input[name=other_topic]", "Leseförderung mit Robotern")
    page.get_by_label("Instagram").check()
    page.fill("textarea[name=wishes]", "Bitte mit Mittagspause.")
    page.get_by_label("Ich bin einverstanden", exact=False).check()


def test_a_library_requests_a_date_and_confirms_it_by_mail(lab: Lab, page: Page) -> None:
    day, other = lab.add_date(8), lab.add_date(15)
    page.goto(f"{lab.served.base}/request")
    assert page.locator("h1").inner_text() == "Das LibraryLab besuchen"
    fill(page, "hanna@example.org", day)
    page.get_by_role("button", name="Anfrage senden").click()
    page.wait_for_url(re.compile(r".*/request/sent$"))
    assert "Bestätigungslink" in page.locator("#request-sent").inner_text()

    [mail] = [m for m in lab.smtp.wait_for(1) if m["To"] == "hanna@example.org"]
    link = re.search(r"https?://\S+/request/confirm/\S+", plain(mail))
    assert link is not None
    assert link[0].startswith(lab.served.base)
    page.goto(link[0])
    assert lab.states()[-1] == "new"  # the page asks; opening it confirms nothing
    page.get_by_role("button", name="Anfrage bestätigen").click()
    page.locator("#confirmed").wait_for()
    assert "bestätigt" in page.locator("#confirmed").inner_text()

    page.goto(f"{lab.served.base}/request")
    assert "angefragt" in page.locator(f"#date-{day}").inner_text()
    assert page.locator(f"input[name=visit_id][value='{day}']").count() == 0
    assert page.locator(f"input[name=visit_id][value='{other}']").count() == 1


def test_a_date_taken_while_the_form_was_open_is_refused(lab: Lab, page: Page) -> None:
    day, other = lab.add_date(9), lab.add_date(16)
    page.goto(f"{lab.served.base}/request")
    fill(page, "late@example.org", day)
    before = len(lab.smtp.wait_for(0))
    answer = lab.served.post(
        "/api/visit-requests",
        json={
            "library": "Stadtbibliothek Mettmann",
            "town": "Mettmann",
            "contact_name": "M. M.",
            "contact_email": "early@example.org",
            "participants": 6,
            "topics": ["Bibliothek als Ort"],
            "visit_id": day,
            "consent": True,
        },
    )
    assert answer.status_code == 202
    early = next(m for m in lab.smtp.wait_for(before + 1) if m["To"] == "early@example.org")
    secret = re.search(r"/request/confirm/(\S+)", plain(early))[1]  # type: ignore[index]
    other_page = page.context.new_page()
    other_page.goto(f"{lab.served.base}/request/confirm/{secret}")
    other_page.get_by_role("button", name="Anfrage bestätigen").click()
    other_page.locator("#confirmed").wait_for()

    page.get_by_role("button", name="Anfrage senden").click()
    alert = page.get_by_role("alert")
    assert "nicht mehr frei" in alert.inner_text()
    assert page.locator(f"input[name=visit_id][value='{day}']").count() == 0
    assert page.locator(f"input[name=visit_id][value='{other}']").count() == 1
    assert page.locator("input[name=library]").input_value() == "Stadtbücherei Hilden"


def test_a_robot_filling_the_honeypot_sees_success_and_nothing_is_kept(
    lab: Lab, page: Page
) -> None:
    stored = lab.stored_requests()
    page.goto(f"{lab.served.base}/request")
    trap = page.locator("input[name=website]").bounding_box()
    assert trap is not None
    assert trap["x"] + trap["width"] <= 0
    fill(page, "robot@example.org")
    page.fill("input[name=website]", "https://cheap-pills.example", force=True)
    page.get_by_role("button", name="Anfrage senden").click()
    page.wait_for_url(re.compile(r".*/request/sent$"))
    assert lab.stored_requests() == stored


def test_too_many_requests_from_one_address_are_refused(lab: Lab, page: Page) -> None:
    stored = lab.stored_requests()
    refused = None
    for n in range(6):  # five an hour from one address, the earlier tests' included
        page.goto(f"{lab.served.base}/request")
        fill(page, f"many{n}@example.org")
        with page.expect_navigation() as sent:
            page.get_by_role("button", name="Anfrage senden").click()
        if sent.value is not None and sent.value.status == 429:
            refused = n
            break
    assert refused is not None
    assert "Zu viele Anfragen" in page.get_by_role("alert").inner_text()
    assert lab.stored_requests() == stored + refused
