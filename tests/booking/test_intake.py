"""Public visit requests through the JSON twin and the confirmation page, with the mail going
through a real SMTP server: double opt-in, a taken date, expiry, the robot traps and the
limits, and that no answer tells whether an address is known."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from booking import intake
from booking.model import MAX_LENGTHS, RequestState
from booking.orm import VisitRequest
from librarylab.accounts.orm import LoginThrottle
from mail.orm import OutboxMail
from tests.conftest import Lab
from tests.mail.smtp_server import SmtpServer
from tests.pages import csrf_token, text_of


def add_date(lab: Lab, days: int, status: str = "free", round: str = "Coworking-Runde 3") -> int:
    """A date ``days`` from today (staff API); its id."""
    body: dict[str, Any] = {
        "date": (date.today() + timedelta(days=days)).isoformat(),
        "start": "10:00",
        "end": "14:00",
        "hands_on_start": "11:00",
        "hands_on_end": "12:30",
        "status": status,
        "round": round,
    }
    if status != "free":
        body |= {"library": "Stadtbibliothek Köln", "participants": 10}
    answer = lab.client.post("/api/visits", json=body, headers=lab.headers())
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def request_body(**fields: Any) -> dict[str, Any]:
    return {
        "library": "Stadtbücherei Ratingen",
        "town": "Ratingen",
        "contact_name": "Rita Rat",
        "contact_email": "rita@example.org",
        "participants": 12,
        "topics": ["Bibliothek als Ort", "Gaming in der Bibliothek"],
        "wishes": "Gern mit Kaffee.",
        "channels": ["blog", "instagram"],
        "language": "de",
        "visit_id": None,
        "consent": True,
    } | fields


def send(lab: Lab, **fields: Any) -> Any:
    lab.client.cookies.clear()  # a script without the pages' cookies, as a partner's would be
    return lab.client.post("/api/visit-requests", json=request_body(**fields))


def secret_of(message: EmailMessage) -> str:
    """The opt-in secret of the link in the mail's plain text."""
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"/request/confirm/(\S+)", body.get_content())
    assert found, body.get_content()
    return found[1]


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def confirm(lab: Lab, secret: str) -> Any:
    """Press the confirmation page's button (the CSRF token of any public form will do)."""
    path = f"/request/confirm/{secret}"
    token = csrf_token(lab.client, "/request")
    return lab.client.post(path, data={"csrftoken": token})


def requests_stored(lab: Lab) -> list[VisitRequest]:
    with lab.sessions() as session:
        return list(session.scalars(select(VisitRequest).order_by(VisitRequest.id)))


def mails_queued(lab: Lab) -> int:
    with lab.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMail)) or 0)


def free_ids(lab: Lab) -> list[int]:
    lab.client.cookies.clear()
    answer = lab.client.get("/api/free-dates")
    assert answer.status_code == 200
    return [d["id"] for d in answer.json()]


def test_a_confirmed_request_takes_its_date_and_a_second_one_is_refused(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    first, second = add_date(mail_lab, 10), add_date(mail_lab, 17)
    add_date(mail_lab, -3)  # past: never offered
    assert free_ids(mail_lab) == [first, second]

    answer = send(mail_lab, visit_id=first)
    assert answer.status_code == 202, answer.text
    [opt_in] = smtp_server.wait_for(1)
    assert opt_in["To"] == "rita@example.org"
    assert "bestätigen" in opt_in["Subject"]
    assert opt_in.get_body(("html",)) is not None
    secret = secret_of(opt_in)
    [stored] = requests_stored(mail_lab)
    assert stored.state is RequestState.NEW
    assert stored.opt_in_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(vars(stored))

    page = mail_lab.client.get(f"/request/confirm/{secret}")
    assert page.status_code == 200
    assert "Anfrage bestätigen" in text_of(page)
    assert requests_stored(mail_lab)[0].state is RequestState.NEW  # a GET does not confirm

    done = confirm(mail_lab, secret)
    assert done.status_code == 200
    assert "Anfrage ist bestätigt" in text_of(done)
    [stored] = requests_stored(mail_lab)
    assert stored.state is RequestState.CONFIRMED
    assert stored.confirmed_at is not None
    assert stored.opt_in_digest is None
    assert stored.visit_id == first
    received = smtp_server.wait_for(2)[1]
    assert received["To"] == "rita@example.org"
    assert "vorgemerkt" in plain(received)

    visit = mail_lab.client.get(f"/api/visits/{first}", headers=mail_lab.headers()).json()
    assert visit["status"] == "requested"
    assert free_ids(mail_lab) == [second]
    public = mail_lab.client.get("/request")
    assert f'name="visit_id" value="{first}"' not in public.text
    assert f'name="visit_id" value="{second}"' in public.text
    assert "angefragt" in text_of(public)

    again = send(mail_lab, visit_id=first, contact_email="bert@example.org")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    problem = again.json()
    assert problem["field"] == "visit_id"
    assert [d["id"] for d in problem["free_dates"]] == [second]
    assert problem["free_dates"][0]["hands_on_start"] == "11:00"
    assert len(requests_stored(mail_lab)) == 1
    assert mails_queued(mail_lab) == 2

    used = confirm(mail_lab, secret)  # the link works once
    assert used.status_code == 404


def test_a_request_without_a_date_reaches_the_lab_as_a_wish(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_date(sqlite_mail_lab, 10)
    answer = send(sqlite_mail_lab, language="en", library="<b>Bib</b> & Co")
    assert answer.status_code == 202
    [opt_in] = smtp_server.wait_for(1)
    assert "confirm" in opt_in["Subject"]
    assert "none of the free dates" in plain(opt_in)
    assert "<b>Bib</b> & Co" in plain(opt_in)  # plain text stays plain
    html = opt_in.get_body(("html",))
    assert html is not None
    assert "&lt;b&gt;Bib&lt;/b&gt; &amp; Co" in html.get_content()  # and HTML is escaped
    confirm(sqlite_mail_lab, secret_of(opt_in))
    [stored] = requests_stored(sqlite_mail_lab)
    assert (stored.state, stored.visit_id) == (RequestState.CONFIRMED, None)
    assert "propose a date" in plain(smtp_server.wait_for(2)[1])
    # The service's lines, not those of the test's SMTP server (aiosmtpd logs as "mail.log")
    # or its HTTP client; uvicorn's access log masks the link (tests/librarylab/test_logs.py).
    others = ("mail.log", "httpx2")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name not in others)
    assert "visit request 1 confirmed" in logged
    for private in ("rita@example.org", "Rita Rat", secret_of(opt_in), "Gern mit Kaffee"):
        assert private not in logged  # no address, name, link or mail body in the log


def test_the_later_of_two_requests_for_one_date_becomes_a_wish(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    day = add_date(sqlite_mail_lab, 10)
    send(sqlite_mail_lab, visit_id=day)
    send(sqlite_mail_lab, visit_id=day, contact_email="bert@example.org")
    mails = {m["To"]: m for m in smtp_server.wait_for(2)}
    confirm(sqlite_mail_lab, secret_of(mails["bert@example.org"]))
    late = confirm(sqlite_mail_lab, secret_of(mails["rita@example.org"]))
    assert "von einer anderen Bibliothek" in text_of(late)
    bert, rita = (
        sorted(requests_stored(sqlite_mail_lab), key=lambda r: r.contact_email)[i] for i in (0, 1)
    )
    assert (bert.visit_id, rita.visit_id) == (day, None)
    assert rita.state is RequestState.CONFIRMED
    received = [m for m in smtp_server.wait_for(4)[2:] if m["To"] == "rita@example.org"]
    assert "Wunsch ohne Termin" in plain(received[0])


def test_unconfirmed_requests_expire_after_48_hours(mail_lab: Lab, smtp_server: SmtpServer) -> None:
    day = add_date(mail_lab, 10)
    send(mail_lab, visit_id=day)
    secret = secret_of(smtp_server.wait_for(1)[0])
    [stored] = requests_stored(mail_lab)
    settings = mail_lab.client.app.state.settings  # type: ignore[attr-defined]
    with mail_lab.sessions() as session:
        almost = stored.created_at + timedelta(hours=48) - timedelta(seconds=1)
        assert intake.expire_unconfirmed(session, almost, settings) == 0
        assert intake.pending(session, secret, almost) is not None
        later = stored.created_at + timedelta(hours=48)
        assert intake.expire_unconfirmed(session, later, settings) == 1
        assert intake.expire_unconfirmed(session, later, settings) == 0  # idempotent
        session.commit()
    [stored] = requests_stored(mail_lab)
    assert (stored.state, stored.opt_in_digest) == (RequestState.EXPIRED, None)
    assert confirm(mail_lab, secret).status_code == 404
    assert free_ids(mail_lab) == [day]


def test_a_link_past_its_48_hours_does_not_confirm_before_the_job_ran(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    send(sqlite_mail_lab)
    secret = secret_of(smtp_server.wait_for(1)[0])
    [stored] = requests_stored(sqlite_mail_lab)
    settings = sqlite_mail_lab.client.app.state.settings  # type: ignore[attr-defined]
    with sqlite_mail_lab.sessions() as session:
        late = stored.created_at + timedelta(hours=48, minutes=1)
        assert intake.confirm(session, secret, now=late, settings=settings) is None


def test_a_filled_honeypot_stores_nothing_and_sends_nothing_but_looks_accepted(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    real = send(sqlite_mail_lab, contact_email="real@example.org")
    assert mails_queued(sqlite_mail_lab) == 1
    robot = send(sqlite_mail_lab, website="http://spam.example")
    assert (robot.status_code, robot.json()) == (real.status_code, real.json())
    assert [r.contact_email for r in requests_stored(sqlite_mail_lab)] == ["real@example.org"]
    assert mails_queued(sqlite_mail_lab) == 1
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["real@example.org"]


def test_a_client_address_may_send_five_requests_an_hour(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    for n in range(5):
        assert send(mail_lab, contact_email=f"p{n}@example.org").status_code == 202
    refused = send(mail_lab, contact_email="p5@example.org")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 3500 <= int(refused.headers["retry-after"]) <= 3600
    assert "try again in 60 min" in refused.json()["detail"]
    assert len(requests_stored(mail_lab)) == 5
    assert mails_queued(mail_lab) == 5
    assert len(smtp_server.wait_for(5)) == 5
    with mail_lab.sessions() as session:
        subjects = session.scalars(select(LoginThrottle.subject)).all()
    assert not [s for s in subjects if "example.org" in s]  # e-mail subjects are digests
    assert sum(s.startswith("request-email:") for s in subjects) == 5


def test_an_email_address_gets_three_opt_in_mails_a_day_whoever_asks(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    answers = [send(mail_lab, contact_email="victim@example.org") for _ in range(4)]
    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1  # the fourth looks like the others
    assert len(requests_stored(mail_lab)) == 3
    assert mails_queued(mail_lab) == 3
    assert send(mail_lab, contact_email="other@example.org").status_code == 202
    assert len(requests_stored(mail_lab)) == 4
    delivered = smtp_server.wait_for(4)
    assert sorted(m["To"] for m in delivered).count("victim@example.org") == 3


def test_oversized_fields_are_refused_by_name_and_nothing_is_stored(sqlite_mail_lab: Lab) -> None:
    oversized: dict[str, Any] = {
        "library": "x" * (MAX_LENGTHS["library"] + 1),
        "town": "x" * (MAX_LENGTHS["town"] + 1),
        "contact_name": "x" * (MAX_LENGTHS["contact_name"] + 1),
        "contact_email": "x" * MAX_LENGTHS["contact_email"] + "@example.org",
        "wishes": "x" * (MAX_LENGTHS["wishes"] + 1),
        "topics": ["x" * (MAX_LENGTHS["topic"] + 1)],
        "website": "x" * 201,
        "participants": 201,
        "channels": ["blog"] * 5,
    }
    for field, value in oversized.items():
        answer = send(sqlite_mail_lab, **{field: value})
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["errors"][0]["field"].startswith(field), (field, answer.json())
    six = send(sqlite_mail_lab, topics=[f"Thema {n}" for n in range(6)])
    assert (six.status_code, six.json()["field"]) == (422, "topics")
    no_consent = send(sqlite_mail_lab, consent=False)
    assert (no_consent.status_code, no_consent.json()["field"]) == (422, "consent")
    assert requests_stored(sqlite_mail_lab) == []
    assert mails_queued(sqlite_mail_lab) == 0


def test_known_and_unknown_addresses_get_the_same_answer(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    send(mail_lab, contact_email="known@example.org")
    confirm(mail_lab, secret_of(smtp_server.wait_for(1)[0]))
    smtp_server.wait_for(2)
    known = send(mail_lab, contact_email="known@example.org")
    unknown = send(mail_lab, contact_email="unknown@example.org")
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert set(known.headers) == set(unknown.headers)
    mails = smtp_server.wait_for(4)[2:]
    assert sorted(m["To"] for m in mails) == ["known@example.org", "unknown@example.org"]
    assert {m["Subject"] for m in mails} == {smtp_server.messages[0]["Subject"]}
    for message in mails:  # each mail is about its own request alone
        other = r"unknown@" if message["To"].startswith("known") else r"\bknown@"
        assert not re.search(other, message.as_string())
