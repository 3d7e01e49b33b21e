"""Personal data on SQLite and on PostgreSQL: one address's export holds its data and no one
else's, erasure keeps what the figures need, the periodic erasure keeps its boundary, and
the log never holds an address."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking import privacy
from booking.model import RequestState
from booking.orm import PersonalDataAction, VisitMail, VisitRequest
from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import TokenScope
from librarylab.settings import Settings
from mail import service as outbox
from mail.model import MailState
from mail.orm import OutboxMail
from tests.conftest import TEST_SECRET, Lab
from visits.model import PostKind, VisitStatus
from visits.orm import Visit, VisitPost

ADA = "ada.lovelace@stadtbuecherei.example"
BOB = "bob@stadtbuecherei.example"
NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
EXPORT = "/api/personal-data/export"
ERASE = "/api/personal-data/erase"
ACTIONS = "/api/personal-data/actions"


def _visit(session: Session, day: date, **values: Any) -> Visit:
    values = {
        "library": "Stadtbücherei Ratingen",
        "town": "Ratingen",
        "start": time(10),
        "end": time(12),
        "participants": 12,
        "topic": "Gaming in der Bibliothek",
        "status": VisitStatus.DONE,
        **values,
    }
    visit = Visit(date=day, **values)
    session.add(visit)
    session.flush()
    return visit


def _request(session: Session, email: str, name: str, **values: Any) -> VisitRequest:
    values = {
        "state": RequestState.CONFIRMED,
        "library": "Stadtbücherei Ratingen",
        "town": "Ratingen",
        "participants": 12,
        "topics": ["Gaming in der Bibliothek"],
        "wishes": f"{name} bringt einen Rollstuhl mit.",
        "channels": ["blog"],
        "language": "de",
        "consent_at": NOW - timedelta(days=30),
        "created_at": NOW - timedelta(days=30),
        **values,
    }
    found = VisitRequest(contact_name=name, contact_email=email, **values)
    session.add(found)
    session.flush()
    return found


def _mail(session: Session, to: str, text: str, *, sent: bool, **extra: Any) -> OutboxMail:
    mail = outbox.enqueue(
        session, to=to, subject="Ihr Besuch im LibraryLab", text=text, language="de", **extra
    )
    session.flush()
    if sent:
        mail.state = MailState.SENT
        mail.sent_at = mail.created_at + timedelta(minutes=1)
    return mail


def _fill(lab: Lab) -> dict[str, int]:
    """Two contacts of the same library, their mails, and a mail to the lab naming Ada."""
    with database.transaction(lab.sessions) as session:
        ada_visit = _visit(
            session,
            date(2026, 2, 10),
            contact_name="Ada Lovelace",
            contact_email=ADA,
            wishes="Ada möchte VR ausprobieren.",
            notes="Ada ruft vorher an: 0211 555.",
            contact_language="en",
            post_link_nonce="a" * 32,
        )
        ada_visit.posts.append(
            VisitPost(kind=PostKind.BLOG, url="https://blog.example/librarylab", published=True)
        )
        bob_visit = _visit(
            session,
            date(2026, 2, 11),
            contact_name="Bob Builder",
            contact_email=BOB,
            wishes="Bob mag 3D-Druck.",
            notes="Bob: Bus um 9:45.",
        )
        ada_request = _request(session, ADA.upper(), "Ada Lovelace", visit_id=ada_visit.id)
        bob_request = _request(session, BOB, "Bob Builder")
        queued = _mail(
            session,
            ADA,
            "Liebe Ada, bis bald.",
            sent=False,
            attachments=[("besuch.ics", "text/calendar", b"BEGIN:VCALENDAR")],
        )
        sent = _mail(session, ADA, "Liebe Ada, danke für Ihren Besuch.", sent=True)
        to_lab = _mail(session, "lab@example.org", f"Neue Anfrage von {ADA}.", sent=True)
        to_bob = _mail(session, BOB, "Lieber Bob, bis bald.", sent=True)
        # An address that merely contains Ada's is someone else's.
        lookalike = _mail(session, "x@example.org", f"Kontakt: l{ADA}.uk", sent=True)
        session.add(
            VisitMail(
                visit_id=ada_visit.id, kind="visit_reminder", mail_id=queued.id, created_at=NOW
            )
        )
        return {
            "ada_visit": ada_visit.id,
            "bob_visit": bob_visit.id,
            "ada_request": ada_request.id,
            "bob_request": bob_request.id,
            "queued": queued.id,
            "sent": sent.id,
            "to_lab": to_lab.id,
            "to_bob": to_bob.id,
            "lookalike": lookalike.id,
        }


def test_an_export_holds_exactly_that_addresss_data(lab: Lab) -> None:
    ids = _fill(lab)
    answer = lab.client.post(EXPORT, json={"email": f"  {ADA.title()} "}, headers=lab.headers())
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["schema_version"] == 1
    assert data["email"] == ADA
    assert [v["id"] for v in data["visits"]] == [ids["ada_visit"]]
    assert [r["id"] for r in data["requests"]] == [ids["ada_request"]]
    assert [m["id"] for m in data["mails"]] == [ids["queued"], ids["sent"], ids["to_lab"]]
    [visit] = data["visits"]
    assert visit["contact_name"] == "Ada Lovelace"
    assert visit["notes"] == "Ada ruft vorher an: 0211 555."
    assert visit["posts"] == [
        {"kind": "blog", "url": "https://blog.example/librarylab", "published": True}
    ]
    [request] = data["requests"]
    assert request["wishes"] == "Ada Lovelace bringt einen Rollstuhl mit."
    assert request["consent_at"] == (NOW - timedelta(days=30)).isoformat()
    queued = data["mails"][0]
    assert queued["text_body"] == "Liebe Ada, bis bald."
    assert base64.b64decode(queued["attachments"][0]["data"]) == b"BEGIN:VCALENDAR"
    assert data["mails"][1]["state"] == "sent"
    text = json.dumps(data)
    for other in ("Bob", "bob@", "9:45", "x@example.org"):
        assert other not in text


def test_an_unknown_address_exports_empty_lists(lab: Lab) -> None:
    _fill(lab)
    answer = lab.client.post(EXPORT, json={"email": "nobody@example.org"}, headers=lab.headers())
    assert answer.status_code == 200
    data = answer.json()
    assert (data["visits"], data["requests"], data["mails"]) == ([], [], [])
    [logged] = lab.client.get(ACTIONS, headers=lab.headers()).json()
    assert (logged["action"], logged["actor"], logged["records"]) == ("export", "sam", 0)


def _without_contact(visit: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in visit.items()
        if k not in ("contact_name", "contact_email", "wishes", "notes")
    }


def test_erasure_keeps_library_town_date_topic_posts_and_the_figures(lab: Lab) -> None:
    ids = _fill(lab)
    before = {v["id"]: v for v in lab.client.get("/api/visits", headers=lab.headers()).json()}
    stats_before = lab.client.get("/api/stats", headers=lab.headers()).json()

    answer = lab.client.post(ERASE, json={"email": ADA}, headers=lab.headers("admin"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "visits": 1,
        "requests": 1,
        "mails_deleted": 1,
        "mails_blanked": 2,
        "records": 5,
    }

    after = {v["id"]: v for v in lab.client.get("/api/visits", headers=lab.headers()).json()}
    ada = after[ids["ada_visit"]]
    assert (ada["contact_name"], ada["contact_email"], ada["wishes"], ada["notes"]) == ("",) * 4
    assert _without_contact(ada) == _without_contact(before[ids["ada_visit"]])
    assert (ada["library"], ada["town"], ada["date"], ada["topic"]) == (
        "Stadtbücherei Ratingen",
        "Ratingen",
        "2026-02-10",
        "Gaming in der Bibliothek",
    )
    assert ada["posts"] == before[ids["ada_visit"]]["posts"] != []
    assert after[ids["bob_visit"]] == before[ids["bob_visit"]]
    assert lab.client.get("/api/stats", headers=lab.headers()).json() == stats_before

    with lab.sessions() as session:
        visit = session.get(Visit, ids["ada_visit"])
        assert visit is not None
        assert visit.contact_erased_at is not None
        assert visit.post_link_nonce not in (None, "a" * 32)
        request = session.get(VisitRequest, ids["ada_request"])
        assert request is not None
        assert (request.contact_name, request.contact_email, request.wishes) == ("", "", "")
        assert request.erased_at is not None
        assert (request.library, request.topics) == (
            "Stadtbücherei Ratingen",
            ["Gaming in der Bibliothek"],
        )
        assert request.consent_at == NOW - timedelta(days=30)
        bob = session.get(VisitRequest, ids["bob_request"])
        assert bob is not None
        assert bob.contact_email == BOB
        assert bob.erased_at is None
        assert session.get(OutboxMail, ids["queued"]) is None
        # The reminder's mark stays, so the reminder is not queued again for no one.
        mark = session.scalars(select(VisitMail)).one()
        assert (mark.visit_id, mark.mail_id) == (ids["ada_visit"], None)
        for mail_id in (ids["sent"], ids["to_lab"]):
            mail = session.get(OutboxMail, mail_id)
            assert mail is not None
            assert (mail.recipient, mail.subject, mail.text_body, mail.html_body) == ("",) * 4
            assert mail.attachments == []
            assert mail.state is MailState.SENT
            assert mail.sent_at is not None
        for mail_id in (ids["to_bob"], ids["lookalike"]):
            mail = session.get(OutboxMail, mail_id)
            assert mail is not None
            assert mail.text_body != ""

    again = lab.client.post(ERASE, json={"email": ADA}, headers=lab.headers("admin"))
    assert again.json()["records"] == 0
    empty = lab.client.post(EXPORT, json={"email": ADA}, headers=lab.headers()).json()
    assert (empty["visits"], empty["requests"], empty["mails"]) == ([], [], [])


def test_erasure_needs_the_admin_role(lab: Lab) -> None:
    ids = _fill(lab)
    refused = lab.client.post(ERASE, json={"email": ADA}, headers=lab.headers("staff"))
    assert refused.status_code == 403
    with lab.sessions() as session:
        visit = session.get(Visit, ids["ada_visit"])
        assert visit is not None
        assert visit.contact_email == ADA
        assert session.scalars(select(PersonalDataAction)).all() == []


def _settings(lab: Lab, months: int = 12) -> Settings:
    settings: Settings = lab.client.app.state.settings  # type: ignore[attr-defined]
    return settings.model_copy(update={"personal_data_months": months})


def test_the_periodic_erasure_keeps_its_boundary_in_the_labs_time_zone(lab: Lab) -> None:
    with database.transaction(lab.sessions) as session:
        due = _visit(session, date(2025, 3, 15), contact_name="Ada", contact_email=ADA).id
        recent = _visit(session, date(2025, 3, 16), contact_name="Bob", contact_email=BOB).id
    # 22:59 UTC is 23:59 on 14 March in Düsseldorf: the visit's twelve months are not over.
    with database.transaction(lab.sessions) as session:
        night = datetime(2026, 3, 14, 22, 59, tzinfo=UTC)
        assert privacy.erase_expired(session, night, _settings(lab)) == 0
    with database.transaction(lab.sessions) as session:
        midnight = datetime(2026, 3, 14, 23, 0, tzinfo=UTC)
        assert privacy.erase_expired(session, midnight, _settings(lab)) == 1
    with lab.sessions() as session:
        erased, kept = session.get(Visit, due), session.get(Visit, recent)
        assert erased is not None
        assert kept is not None
        assert (erased.contact_name, erased.contact_email) == ("", "")
        assert erased.contact_erased_at == datetime(2026, 3, 14, 23, 0, tzinfo=UTC)
        assert (kept.contact_name, kept.contact_email) == ("Bob", BOB)


def test_the_periodic_erasure_takes_only_what_is_old_enough_runs_twice_and_logs(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="librarylab.audit")
    old = NOW - timedelta(days=400)
    young = NOW - timedelta(days=300)
    with database.transaction(lab.sessions) as session:
        old_visit = _visit(session, old.date(), contact_name="Ada", contact_email=ADA, notes="x")
        young_visit = _visit(session, young.date(), contact_name="Bob", contact_email=BOB)
        free = _visit(session, old.date(), library="", participants=0, status=VisitStatus.FREE)
        requests = {
            "accepted": _request(
                session, ADA, "Ada", state=RequestState.ACCEPTED, visit_id=old_visit.id
            ).id,
            "declined_old": _request(
                session, "cy@example.org", "Cy", state=RequestState.DECLINED, decided_at=old
            ).id,
            "lapsed": _request(
                session, "di@example.org", "Di", state=RequestState.NEW, expires_at=old
            ).id,
            "declined_young": _request(
                session, "ed@example.org", "Ed", state=RequestState.DECLINED, decided_at=young
            ).id,
            "waiting": _request(session, "fi@example.org", "Fi", created_at=old).id,
        }
        to_ada = _mail(session, ADA, "Liebe Ada", sent=True, now=young).id
        to_bob = _mail(session, BOB, "Lieber Bob", sent=True, now=old).id
        old_test = _mail(session, "staff@example.org", "Test", sent=False, now=old).id
        free_id = free.id
    settings = _settings(lab)
    with database.transaction(lab.sessions) as session:
        # Ada's visit, three requests, her mail (younger, but she is no longer kept), the
        # old test mail; Bob's old mail stays with his recent visit.
        assert privacy.erase_expired(session, NOW, settings) == 6
    with database.transaction(lab.sessions) as session:
        assert privacy.erase_expired(session, NOW, settings) == 0
    with lab.sessions() as session:
        visit = session.get(Visit, old_visit.id)
        assert visit is not None
        assert (visit.contact_email, visit.notes) == ("", "")
        young_one = session.get(Visit, young_visit.id)
        assert young_one is not None
        assert young_one.contact_email == BOB
        untouched = session.get(Visit, free_id)
        assert untouched is not None
        assert untouched.contact_erased_at is None
        state = {
            name: session.get(VisitRequest, rid).erased_at is not None  # type: ignore[union-attr]
            for name, rid in requests.items()
        }
        assert state == {
            "accepted": True,
            "declined_old": True,
            "lapsed": True,
            "declined_young": False,
            "waiting": False,
        }
        ada_mail = session.get(OutboxMail, to_ada)
        assert ada_mail is not None
        assert ada_mail.recipient == ""
        bob_mail = session.get(OutboxMail, to_bob)
        assert bob_mail is not None
        assert bob_mail.recipient == BOB
        assert session.get(OutboxMail, old_test) is None
        [logged] = session.scalars(select(PersonalDataAction)).all()
        assert (logged.action, logged.actor, logged.subject_digest, logged.records) == (
            "expire",
            "system",
            "",
            6,
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "librarylab.audit"]
    assert lines == ["personal data expire by system: 6 record(s)"]


def test_the_log_holds_no_address(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("librarylab", "booking", "mail", "visits", "uvicorn", "fastapi"):
        caplog.set_level(logging.DEBUG, logger=name)  # the service's own lines, all levels
    _fill(lab)
    lab.client.post(EXPORT, json={"email": ADA}, headers=lab.headers())
    lab.client.post(ERASE, json={"email": ADA}, headers=lab.headers("admin"))
    with database.transaction(lab.sessions) as session:
        old = datetime(2030, 1, 1, tzinfo=UTC)  # Bob's visit is long past by then
        assert privacy.erase_expired(session, old, _settings(lab)) > 0
    digest = hmac.new(
        TEST_SECRET.encode(), b"personal-data:" + ADA.encode(), hashlib.sha256
    ).hexdigest()
    with lab.sessions() as session:
        rows = session.scalars(select(PersonalDataAction).order_by(PersonalDataAction.id)).all()
        assert [(r.action, r.actor, r.subject_digest) for r in rows] == [
            ("export", "sam", digest),
            ("erase", "ada", digest),
            ("expire", "system", ""),
        ]
        assert [r.records for r in rows] == [5, 5, rows[2].records]
        stored = " ".join(f"{r.action} {r.actor} {r.subject_digest} {r.records}" for r in rows)
    listed = lab.client.get(ACTIONS, headers=lab.headers()).json()
    assert [a["action"] for a in listed] == ["expire", "erase", "export"]
    assert listed[2]["subject_digest"] == digest
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "personal data erase by ada: 5 record(s), address digest " + digest[:16] in logged
    for text in (stored, json.dumps(listed), logged):
        for secret in (ADA, "ada.lovelace", "stadtbuecherei", BOB):
            assert secret not in text.lower()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not an address"},
        {"email": "ada@"},
        {"email": f"{ADA}\r\nBcc: eve@example.org"},
        {"email": ""},
    ],
)
def test_a_bad_address_is_refused_with_what_to_send(lab: Lab, body: dict[str, str]) -> None:
    for path, role in ((EXPORT, "staff"), (ERASE, "admin")):
        answer = lab.client.post(path, json=body, headers=lab.headers(role))
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["field"] == "email"
        assert problem["detail"] == "Give one mail address, such as name@example.org."
    with lab.sessions() as session:
        assert session.scalars(select(PersonalDataAction)).all() == []


def test_anonymous_callers_and_display_or_calendar_tokens_are_refused(lab: Lab) -> None:
    ids = _fill(lab)
    with database.transaction(lab.sessions) as session:
        display = accounts.create_display_token(session, "Foyer").secret
        owner = accounts.get_user(session, "ada")
        calendar = accounts.create_token(session, owner, "", TokenScope.CALENDAR).secret
    assert lab.client.get(f"/wall?token={display}").status_code == 200  # it opens the wall
    for headers, query in (
        ({}, ""),
        ({"Authorization": f"Bearer {display}"}, ""),
        ({}, f"?token={display}"),
        ({"Authorization": f"Bearer {calendar}"}, ""),
        ({}, f"?token={calendar}"),
    ):
        for path in (EXPORT, ERASE):
            answer = lab.client.post(path + query, json={"email": ADA}, headers=headers)
            assert answer.status_code == 401, (path, headers, query)
            assert ADA not in answer.text
        assert lab.client.get(ACTIONS + query, headers=headers).status_code == 401
    with lab.sessions() as session:
        visit = session.get(Visit, ids["ada_visit"])
        assert visit is not None
        assert visit.contact_email == ADA
        assert session.scalars(select(PersonalDataAction)).all() == []


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 3, 15), 12, date(2025, 3, 15)),
        (date(2026, 3, 31), 1, date(2026, 2, 28)),
        (date(2024, 3, 31), 1, date(2024, 2, 29)),
        (date(2026, 1, 15), 1, date(2025, 12, 15)),
        (date(2026, 1, 31), 120, date(2016, 1, 31)),
    ],
)
def test_months_before_counts_calendar_months(day: date, months: int, expected: date) -> None:
    assert privacy.months_before(day, months) == expected


def test_the_periodic_erasure_finds_the_mails_of_many_contacts_in_one_pass(lab: Lab) -> None:
    old = NOW - timedelta(days=400)
    many = [f"kontakt{i}@bibliothek.example" for i in range(privacy.FEW_ADDRESSES + 5)]
    with database.transaction(lab.sessions) as session:
        for i, address in enumerate(many):
            _visit(session, old.date(), contact_name=f"Kontakt {i}", contact_email=address)
        young = [_mail(session, a, "Danke", sent=True, now=NOW - timedelta(days=20)) for a in many]
        naming = _mail(session, "lab@example.org", f"Rückfrage von {many[3]}.", sent=False)
        lookalike = _mail(session, "lab@example.org", f"Von x{many[3]}.uk", sent=True)
        ids = [m.id for m in young]
        naming_id, lookalike_id = naming.id, lookalike.id
    with database.transaction(lab.sessions) as session:
        assert privacy.erase_expired(session, NOW, _settings(lab)) == 2 * len(many) + 1
    with lab.sessions() as session:
        for mail_id in ids:
            mail = session.get(OutboxMail, mail_id)
            assert mail is not None
            assert (mail.recipient, mail.text_body) == ("", "")
        assert session.get(OutboxMail, naming_id) is None
        kept = session.get(OutboxMail, lookalike_id)
        assert kept is not None
        assert kept.text_body == f"Von x{many[3]}.uk"
