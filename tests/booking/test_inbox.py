"""The staff inbox of visit requests through its JSON API, with a real SMTP server receiving
the mail and a third-party iCalendar parser reading the invitation."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import func, select

from booking import inbox
from booking.model import RequestState
from booking.orm import VisitRequest
from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import TokenScope
from librarylab.errors import Conflict
from mail.orm import OutboxMail
from tests.conftest import Lab
from tests.mail.smtp_server import SmtpServer
from visits.model import VisitStatus
from visits.orm import Visit

DAY = date(2099, 3, 5)
CREATED = datetime(2099, 1, 10, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def free_date(lab: Lab, day: date = DAY, *, held: bool = False) -> int:
    """A free date (``held``: named by a request, as the public form leaves it)."""
    with database.transaction(lab.sessions) as session:
        visit = Visit(
            date=day,
            start=time(10),
            end=time(14),
            hands_on_start=time(11),
            hands_on_end=time(13),
            status=VisitStatus.REQUESTED if held else VisitStatus.FREE,
        )
        session.add(visit)
        session.flush()
        return visit.id


def confirmed_request(
    lab: Lab,
    *,
    visit_id: int | None = None,
    email: str = "kim@stadtbibliothek-neuss.de",
    language: str = "de",
    state: RequestState = RequestState.CONFIRMED,
    **fields: Any,
) -> int:
    """A request as the public form leaves it once its contact clicked the opt-in link."""
    values: dict[str, Any] = {
        "library": "Stadtbibliothek Neuss",
        "town": "Neuss",
        "contact_name": "Kim Berger",
        "participants": 12,
        "topics": ["Gaming in der Bibliothek", "Bibliothek als Ort"],
        "wishes": "Bitte mit VR-Brillen.",
        "channels": ["blog", "instagram"],
    } | fields
    with database.transaction(lab.sessions) as session:
        request = VisitRequest(
            state=state,
            visit_id=visit_id,
            contact_email=email,
            language=language,
            consent_at=CREATED,
            created_at=CREATED,
            confirmed_at=CREATED if state is not RequestState.NEW else None,
            **values,
        )
        session.add(request)
        session.flush()
        return request.id


def outbox_size(lab: Lab) -> int:
    with lab.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMail)) or 0)


def attachment(message: EmailMessage) -> tuple[EmailMessage, bytes]:
    [part] = list(message.iter_attachments())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return part, payload


def feed_event(lab: Lab, visit_id: int) -> icalendar.cal.Component:
    feed = lab.client.get("/api/visits.ics", headers=lab.headers())
    assert feed.status_code == 200
    events = [
        e
        for e in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
        if str(e["uid"]).startswith(f"visit-{visit_id}@")
    ]
    assert len(events) == 1
    return events[0]


ACCEPTED_SUBJECT = {"de": "ist bestätigt", "en": "is confirmed"}
DATE_TEXT = {"de": "Donnerstag, 5. März 2099", "en": "Thursday, March 5, 2099"}


@pytest.mark.parametrize("language", ["de", "en"])
def test_accepting_a_dated_request_confirms_the_visit_and_mails_an_invitation(
    mail_lab: Lab, smtp_server: SmtpServer, language: str
) -> None:
    visit_id = free_date(mail_lab, held=True)
    request_id = confirmed_request(mail_lab, visit_id=visit_id, language=language)

    answer = mail_lab.client.post(
        f"/api/visit-requests/{request_id}/accept", json={}, headers=mail_lab.headers()
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["state"] == "accepted"
    assert body["visit_id"] == visit_id
    assert body["date"] == DAY.isoformat()
    assert body["decided_by"] == "sam"
    visit = mail_lab.client.get(f"/api/visits/{visit_id}", headers=mail_lab.headers()).json()
    assert visit["status"] == "confirmed"
    assert visit["library"] == "Stadtbibliothek Neuss"
    assert visit["town"] == "Neuss"
    assert visit["contact_name"] == "Kim Berger"
    assert visit["contact_email"] == "kim@stadtbibliothek-neuss.de"
    assert visit["contact_language"] == language
    assert visit["participants"] == 12
    assert visit["topic"] == "Gaming in der Bibliothek; Bibliothek als Ort"
    assert visit["wishes"] == "Bitte mit VR-Brillen."
    assert visit["posts"] == [
        {"kind": "blog", "url": "", "published": False},
        {"kind": "instagram", "url": "", "published": False},
    ]

    [message] = smtp_server.wait_for(1)
    assert message["To"] == "kim@stadtbibliothek-neuss.de"
    assert ACCEPTED_SUBJECT[language] in message["Subject"]
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert html is not None
    for part in (plain, html):
        content = part.get_content()
        assert "Stadtbibliothek Neuss" in content
        assert DATE_TEXT[language] in content
        assert "Kim Berger" in content
    part, ics = attachment(message)
    assert part.get_content_type() == "text/calendar"
    assert (part.get_param("method"), part.get_content_charset()) == ("REQUEST", "utf-8")
    assert part.get_filename() == "librarylab-visit.ics"

    calendar = icalendar.Calendar.from_ical(ics)
    assert str(calendar["method"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    feed = feed_event(mail_lab, visit_id)
    assert str(event["uid"]) == str(feed["uid"])
    assert str(event["uid"]) == f"visit-{visit_id}@localhost"  # from the public address
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert start == datetime(2099, 3, 5, 10, tzinfo=BERLIN)
    assert end == datetime(2099, 3, 5, 14, tzinfo=BERLIN)
    assert str(start.tzinfo) == "Europe/Berlin"
    assert (start, end) == (feed.decoded("dtstart"), feed.decoded("dtend"))
    assert str(event["summary"]) == str(feed["summary"]) == "LibraryLab: Stadtbibliothek Neuss"
    assert str(event["status"]) == str(feed["status"]) == "CONFIRMED"
    assert str(event["organizer"]) == "mailto:lab@example.org"
    assert str(event["attendee"]) == "mailto:kim@stadtbibliothek-neuss.de"


def test_a_request_without_a_date_goes_onto_a_picked_free_date(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    picked = free_date(mail_lab)
    request_id = confirmed_request(mail_lab, channels=[])
    headers = mail_lab.headers()

    nowhere = mail_lab.client.post(
        f"/api/visit-requests/{request_id}/accept", json={}, headers=headers
    )
    assert nowhere.status_code == 422
    assert "pick a free date" in nowhere.json()["detail"]

    answer = mail_lab.client.post(
        f"/api/visit-requests/{request_id}/accept",
        json={"visit_id": picked, "topic": "Gaming"},
        headers=headers,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["visit_id"] == picked
    visit = mail_lab.client.get(f"/api/visits/{picked}", headers=headers).json()
    assert (visit["status"], visit["topic"], visit["posts"]) == ("confirmed", "Gaming", [])
    assert visit["hands_on_start"] == "11:00"  # the date's own times stay
    [message] = smtp_server.wait_for(1)
    [event] = icalendar.Calendar.from_ical(attachment(message)[1]).walk("VEVENT")
    assert str(event["uid"]) == str(feed_event(mail_lab, picked)["uid"])


def test_a_request_without_a_date_goes_onto_a_new_date(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    request_id = confirmed_request(mail_lab, language="en", email="lee@library.example")
    headers = mail_lab.headers()

    answer = mail_lab.client.post(
        f"/api/visit-requests/{request_id}/accept",
        json={
            "date": "2099-04-16",
            "start": "09:30",
            "end": "13:00",
            "hands_on_start": "10:30",
            "hands_on_end": "12:30",
            "round": "Runde 9",
        },
        headers=headers,
    )

    assert answer.status_code == 200, answer.text
    visit_id = answer.json()["visit_id"]
    assert answer.json()["date"] == "2099-04-16"
    visit = mail_lab.client.get(f"/api/visits/{visit_id}", headers=headers).json()
    assert visit["status"] == "confirmed"
    assert (visit["start"], visit["end"], visit["round"]) == ("09:30", "13:00", "Runde 9")
    assert visit["library"] == "Stadtbibliothek Neuss"
    assert visit["contact_language"] == "en"
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "lee@library.example"
    [event] = icalendar.Calendar.from_ical(attachment(message)[1]).walk("VEVENT")
    assert event.decoded("dtstart") == datetime(2099, 4, 16, 9, 30, tzinfo=BERLIN)
    assert str(event["uid"]) == str(feed_event(mail_lab, visit_id)["uid"])


DECLINED_WORDS = {"de": "Leider", "en": "Unfortunately"}


@pytest.mark.parametrize(
    ("language", "message"), [("de", "Im März sind wir ausgebucht."), ("en", "")]
)
def test_declining_frees_the_date_and_mails_the_library(
    mail_lab: Lab, smtp_server: SmtpServer, language: str, message: str
) -> None:
    visit_id = free_date(mail_lab, held=True)
    with database.transaction(mail_lab.sessions) as session:  # as the public form fills it
        held = session.get(Visit, visit_id)
        assert held is not None
        held.library, held.participants = "Stadtbibliothek Neuss", 12
    request_id = confirmed_request(mail_lab, visit_id=visit_id, language=language)
    headers = mail_lab.headers()

    answer = mail_lab.client.post(
        f"/api/visit-requests/{request_id}/decline", json={"message": message}, headers=headers
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "declined"
    assert answer.json()["decline_message"] == message
    visits = mail_lab.client.get("/api/visits", headers=headers).json()
    [visit] = [v for v in visits if v["id"] == visit_id]
    assert visit["status"] == "free"
    assert (visit["library"], visit["participants"], visit["contact_email"]) == ("", 0, "")
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "kim@stadtbibliothek-neuss.de"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    for part in (plain, html):
        content = part.get_content()
        assert DECLINED_WORDS[language] in content
        if message:
            assert message in content
    assert not list(mail.iter_attachments())


def test_refusals_say_why_and_change_nothing(mail_lab: Lab, smtp_server: SmtpServer) -> None:
    client, headers = mail_lab.client, mail_lab.headers()
    taken = free_date(mail_lab, date(2099, 5, 1))
    first = confirmed_request(mail_lab)
    second = confirmed_request(mail_lab, email="jo@stadtbuecherei.example")
    unconfirmed = confirmed_request(mail_lab, state=RequestState.NEW, email="new@example.org")
    accepted = client.post(
        f"/api/visit-requests/{first}/accept", json={"visit_id": taken}, headers=headers
    )
    assert accepted.status_code == 200
    smtp_server.wait_for(1)
    before_mails = outbox_size(mail_lab)
    before_visits = client.get("/api/visits", headers=headers).json()

    twice = client.post(f"/api/visit-requests/{first}/accept", json={}, headers=headers)
    assert twice.status_code == 409
    assert "This request is accepted" in twice.json()["detail"]
    onto_taken = client.post(
        f"/api/visit-requests/{second}/accept", json={"visit_id": taken}, headers=headers
    )
    assert onto_taken.status_code == 409
    assert "2099-05-01 is no longer free (it is confirmed)" in onto_taken.json()["detail"]
    decline_accepted = client.post(
        f"/api/visit-requests/{first}/decline", json={"message": "doch nicht"}, headers=headers
    )
    assert decline_accepted.status_code == 409
    not_confirmed = client.post(
        f"/api/visit-requests/{unconfirmed}/accept", json={"visit_id": taken}, headers=headers
    )
    assert not_confirmed.status_code == 409
    assert "This request is new" in not_confirmed.json()["detail"]
    for path in ("", "/accept", "/decline"):
        call = client.get if not path else client.post
        kwargs: dict[str, Any] = {"headers": headers} | ({"json": {}} if path else {})
        unknown = call(f"/api/visit-requests/999999{path}", **kwargs)
        assert unknown.status_code == 404, path
        assert "no visit request with id 999999" in unknown.json()["detail"]

    assert outbox_size(mail_lab) == before_mails
    assert client.get("/api/visits", headers=headers).json() == before_visits
    states = {
        r["id"]: r["state"] for r in client.get("/api/visit-requests", headers=headers).json()
    }
    assert states == {first: "accepted", second: "confirmed", unconfirmed: "new"}
    second_now = client.get(f"/api/visit-requests/{second}", headers=headers).json()
    assert (second_now["decided_at"], second_now["visit_id"]) == (None, None)


def test_each_mail_names_only_its_own_contact(mail_lab: Lab, smtp_server: SmtpServer) -> None:
    one = confirmed_request(
        mail_lab, visit_id=free_date(mail_lab, held=True), email="anna@bib-one.example"
    )
    other = confirmed_request(
        mail_lab,
        visit_id=free_date(mail_lab, date(2099, 3, 6), held=True),
        email="ben@bib-two.example",
        contact_name="Ben Other",
    )
    headers = mail_lab.headers()
    assert (
        mail_lab.client.post(
            f"/api/visit-requests/{one}/accept", json={}, headers=headers
        ).status_code
        == 200
    )
    assert (
        mail_lab.client.post(
            f"/api/visit-requests/{other}/decline", json={}, headers=headers
        ).status_code
        == 200
    )

    smtp_server.wait_for(2)
    by_recipient = dict(zip([e[0] for e in smtp_server.envelopes], smtp_server.raw, strict=True))
    assert set(by_recipient) == {"anna@bib-one.example", "ben@bib-two.example"}
    assert b"bib-two" not in by_recipient["anna@bib-one.example"]
    assert b"Ben Other" not in by_recipient["anna@bib-one.example"]
    assert b"bib-one" not in by_recipient["ben@bib-two.example"]


def test_requests_are_listed_by_state(sqlite_mail_lab: Lab) -> None:
    confirmed = confirmed_request(sqlite_mail_lab)
    new = confirmed_request(sqlite_mail_lab, state=RequestState.NEW)
    client, headers = sqlite_mail_lab.client, sqlite_mail_lab.headers()

    everything = client.get("/api/visit-requests", headers=headers).json()
    only_new = client.get("/api/visit-requests?state=new", headers=headers).json()

    assert {r["id"] for r in everything} == {confirmed, new}
    assert [r["id"] for r in only_new] == [new]
    assert everything[0]["topics"] == ["Gaming in der Bibliothek", "Bibliothek als Ort"]
    assert client.get("/api/visit-requests?state=maybe", headers=headers).status_code == 422


def test_staff_endpoints_refuse_anonymous_and_wall_callers(sqlite_mail_lab: Lab) -> None:
    request_id = confirmed_request(sqlite_mail_lab, visit_id=free_date(sqlite_mail_lab, held=True))
    with database.transaction(sqlite_mail_lab.sessions) as session:
        wall = accounts.create_display_token(session, "Foyer").secret
        sam = accounts.get_user(session, "sam")
        calendar = accounts.create_token(session, sam, scope=TokenScope.CALENDAR).secret
    client = sqlite_mail_lab.client
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("get", "/api/visit-requests", None),
        ("get", f"/api/visit-requests/{request_id}", None),
        ("post", f"/api/visit-requests/{request_id}/accept", {}),
        ("post", f"/api/visit-requests/{request_id}/decline", {}),
    ]
    for method, path, body in calls:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        assert getattr(client, method)(path, **kwargs).status_code == 401, path
        for secret in (wall, calendar):
            bearer = {"Authorization": f"Bearer {secret}"}
            answer = getattr(client, method)(path, headers=bearer, **kwargs)
            assert answer.status_code in (401, 403), (path, answer.status_code)
        with_query = getattr(client, method)(f"{path}?token={wall}", **kwargs)
        assert with_query.status_code == 401, path

    with sqlite_mail_lab.sessions() as session:
        request = session.get(VisitRequest, request_id)
        assert request is not None
        assert request.state is RequestState.CONFIRMED
    assert outbox_size(sqlite_mail_lab) == 0


def test_two_staff_accepting_onto_one_date_at_once_give_it_once(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    """The second decision runs while the first holds its uncommitted claim on the date."""
    settings = mail_lab.client.app.state.settings  # type: ignore[attr-defined]
    picked = free_date(mail_lab)
    first = confirmed_request(mail_lab, email="first@bib.example")
    second = confirmed_request(mail_lab, email="second@bib.example")
    now = datetime.now(UTC)
    outcome: dict[str, str] = {}

    def decide_second() -> None:
        with mail_lab.sessions() as session:
            try:
                inbox.accept(session, second, {"visit_id": picked}, "ada", now, settings)
                session.commit()
                outcome["second"] = "accepted"
            except Conflict as exc:
                outcome["second"] = exc.message

    with mail_lab.sessions() as session:
        inbox.accept(session, first, {"visit_id": picked}, "sam", now, settings)
        other = threading.Thread(target=decide_second)
        other.start()
        session.commit()
    other.join()

    assert outcome["second"] == (
        "The date 2099-03-05 is no longer free (it is confirmed); pick another one."
    )
    states = {
        r["id"]: (r["state"], r["visit_id"])
        for r in mail_lab.client.get("/api/visit-requests", headers=mail_lab.headers()).json()
    }
    assert states == {first: ("accepted", picked), second: ("confirmed", None)}
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "first@bib.example"
    assert outbox_size(mail_lab) == 1


def test_markup_in_a_request_reaches_the_html_mail_as_text(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    """A library that names itself in HTML cannot put markup into the lab's mail."""
    request_id = confirmed_request(
        sqlite_mail_lab,
        visit_id=free_date(sqlite_mail_lab, held=True),
        library='<img src="https://evil.example/x.png">Bib',
        contact_name="<script>alert(1)</script>",
    )
    answer = sqlite_mail_lab.client.post(
        f"/api/visit-requests/{request_id}/accept", json={}, headers=sqlite_mail_lab.headers()
    )
    assert answer.status_code == 200, answer.text

    [message] = smtp_server.wait_for(1)
    html = message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<script>" not in content
    assert "<img" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;img src=" in content


def test_topic_wishes_too_long_together_ask_staff_to_choose_one(sqlite_mail_lab: Lab) -> None:
    request_id = confirmed_request(
        sqlite_mail_lab, visit_id=free_date(sqlite_mail_lab, held=True), topics=["x" * 200] * 2
    )
    client, headers = sqlite_mail_lab.client, sqlite_mail_lab.headers()
    path = f"/api/visit-requests/{request_id}/accept"

    refused = client.post(path, json={}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["field"] == "topic"
    assert client.get(f"/api/visit-requests/{request_id}", headers=headers).json()["state"] == (
        "confirmed"
    )
    chosen = client.post(path, json={"topic": "Gaming"}, headers=headers)
    assert chosen.status_code == 200
    visit = client.get(f"/api/visits/{chosen.json()['visit_id']}", headers=headers).json()
    assert visit["topic"] == "Gaming"
