"""The inbox pages as staff use them, in German and in English."""

from __future__ import annotations

from datetime import date

import pytest

from tests.booking.test_inbox import confirmed_request, free_date
from tests.conftest import STAFF_PASSWORD, Lab
from tests.mail.smtp_server import SmtpServer
from tests.pages import error_of, login, submit, text_of

WORDS = {
    "de": {
        "nav": "Anfragen",
        "title": "Besuchsanfragen",
        "waiting": "Warten auf eine Entscheidung: 2",
        "badge": "wartet",
        "accepted": "zugesagt",
        "declined": "abgesagt",
        "taken": "ist nicht mehr frei",
    },
    "en": {
        "nav": "Requests",
        "title": "Visit requests",
        "waiting": "Waiting for a decision: 2",
        "badge": "waiting",
        "accepted": "accepted",
        "declined": "declined",
        "taken": "is no longer free",
    },
}


@pytest.mark.parametrize("language", ["de", "en"])
def test_staff_accept_and_decline_requests_on_the_pages(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer, language: str
) -> None:
    words = WORDS[language]
    lab = sqlite_mail_lab
    picked = free_date(lab, date(2099, 6, 2))
    dateless = confirmed_request(lab, library="Stadtbücherei Hilden", email="a@hilden.example")
    dated = confirmed_request(
        lab, visit_id=free_date(lab, held=True), library="Bibliothek Kaarst", email="b@k.example"
    )
    client = lab.client
    assert login(client, "sam", STAFF_PASSWORD).status_code == 303
    client.cookies.set("lang", language)

    inbox = client.get("/requests")
    assert inbox.status_code == 200
    shown = text_of(inbox)
    assert words["nav"] in shown
    assert words["title"] in shown
    assert words["waiting"] in shown
    assert "Stadtbücherei Hilden" in shown
    assert "Bibliothek Kaarst" in shown
    assert shown.count(words["badge"]) >= 2

    page = client.get(f"/requests/{dateless}")
    assert page.status_code == 200
    assert "a@hilden.example" in text_of(page)
    accepted = submit(
        client, f"/requests/{dateless}", f"/requests/{dateless}/accept", {"visit_id": str(picked)}
    )
    assert accepted.status_code == 303
    assert words["accepted"] in text_of(client.get(f"/requests/{dateless}"))
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "a@hilden.example"
    assert "ist bestätigt" in mail["Subject"]  # the contact's language, not the page's

    # Onto the date just taken: refused with a message, nothing changed.
    taken = submit(
        client, f"/requests/{dated}", f"/requests/{dated}/accept", {"visit_id": str(picked)}
    )
    assert taken.status_code == 409
    assert words["taken"] in error_of(taken)

    declined = submit(
        client, f"/requests/{dated}", f"/requests/{dated}/decline", {"message": "Ausgebucht."}
    )
    assert declined.status_code == 303
    after = text_of(client.get(f"/requests/{dated}"))
    assert words["declined"] in after
    assert "Ausgebucht." in after
    smtp_server.wait_for(2)
    assert smtp_server.envelopes[-1] == ["b@k.example"]
    third = confirmed_request(lab, library="Bücherei Erkrath", email="c@erkrath.example")
    missing_end = submit(
        client, f"/requests/{third}", f"/requests/{third}/accept", {"date": "2099-07-01"}
    )
    assert missing_end.status_code == 422
    assert "2099-07-01" in missing_end.text  # the form keeps what was typed
    on_new_date = submit(
        client,
        f"/requests/{third}",
        f"/requests/{third}/accept",
        {"date": "2099-07-01", "start": "09:00", "end": "12:00", "topic": "Makerspace"},
    )
    assert on_new_date.status_code == 303
    made = client.get("/api/visits", headers=lab.headers()).json()
    assert [
        (v["date"], v["start"], v["topic"], v["status"])
        for v in made
        if v["library"] == "Bücherei Erkrath"
    ] == [("2099-07-01", "09:00", "Makerspace", "confirmed")]
    filtered = text_of(client.get("/requests?state=declined"))
    assert "Bibliothek Kaarst" in filtered
    assert "Stadtbücherei Hilden" not in filtered
