"""The mails around a booked visit, delivered to a real SMTP server: reminder, changed,
cancelled, follow-up and its one reminder; each queued once, in the contact's language, and
carrying nobody else's data."""

from __future__ import annotations

import re
import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from booking.correspondence import FOLLOW_UP_CATCH_UP, queue_due_mails
from booking.model import FOLLOW_UP_REMINDER_AFTER, MailKind
from booking.orm import VisitMail
from librarylab import database
from librarylab.demo import load_demo
from librarylab.settings import Settings
from mail.model import MailState
from mail.orm import OutboxMail
from tests.conftest import STAFF_PASSWORD, Lab
from tests.mail.smtp_server import SmtpServer
from tests.pages import login, submit
from visits.orm import Visit

BERLIN = ZoneInfo("Europe/Berlin")
VISIT_DAY = date(2031, 3, 20)  # a Thursday, far from the real today the service's own job sees
LINK = re.compile(r"http://localhost:8000/posts/[0-9]+\.[A-Za-z0-9_-]+")


def at(day: date, hour: int = 8) -> datetime:
    """A moment of ``day`` in the lab's zone."""
    return datetime.combine(day, time(hour), BERLIN)


def settings_of(lab: Lab) -> Settings:
    settings: Settings = lab.client.app.state.settings  # type: ignore[attr-defined]
    return settings


def book(lab: Lab, **fields: Any) -> int:
    """A confirmed visit with a contact; ``fields`` override."""
    body = {
        "date": VISIT_DAY.isoformat(),
        "library": "Stadtbibliothek Hilden",
        "start": "10:00",
        "end": "14:00",
        "hands_on_start": "11:00",
        "hands_on_end": "12:20",
        "participants": 9,
        "status": "confirmed",
        "topic": "Gaming in der Bibliothek",
        "contact_name": "Hanna Hilden",
        "contact_email": "hanna@hilden.example",
        "contact_language": "de",
        "posts": [{"kind": "blog"}],
    } | fields
    answer = lab.client.post("/api/visits", json=body, headers=lab.headers())
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def due(lab: Lab, now: datetime) -> int:
    """Run the scheduled-mail task at ``now`` in one transaction, as the job does."""
    with database.transaction(lab.sessions) as session:
        return queue_due_mails(session, now, settings_of(lab))


def count(lab: Lab, table: Any, **where: Any) -> int:
    with lab.sessions() as session:
        query = select(func.count()).select_from(table).filter_by(**where)
        return int(session.scalar(query) or 0)


def body_of(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content(), html.get_content()


def delivered(lab: Lab, smtp_server: SmtpServer, count: int) -> list[EmailMessage]:
    """The messages once ``count`` arrived and the sender has settled each (so the service
    does not shut down under it): a deadline, not a timed assertion."""
    messages = smtp_server.wait_for(count)
    waiting = OutboxMail.state.in_([MailState.QUEUED, MailState.SENDING])
    deadline = time_module.monotonic() + 30
    while time_module.monotonic() < deadline:
        with lab.sessions() as session:
            if not session.scalar(select(func.count()).select_from(OutboxMail).where(waiting)):
                break
        time_module.sleep(0.05)
    return messages


def addressed_to(messages: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in messages if m["To"] == address]


def test_reminder_goes_once_n_days_before_in_each_contacts_language_with_topic_and_schedule(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    with database.transaction(mail_lab.sessions) as session:
        load_demo(session)  # the lab's stations, for the rotation plan
    german = book(mail_lab)
    book(
        mail_lab,
        library="Hilden Public Library",
        contact_name="Ann Archer",
        contact_email="ann@archer.example",
        contact_language="en",
        topic="Games in the library",
        hands_on_start=None,
        hands_on_end=None,
    )
    plan = mail_lab.client.post(f"/api/visits/{german}/plan", headers=mail_lab.headers())
    assert plan.status_code == 200, plan.text
    slots = [(s["start"], s["end"]) for s in plan.json()["slots"]]
    groups = len(plan.json()["groups"])

    assert due(mail_lab, at(VISIT_DAY - timedelta(days=8), 23)) == 0
    assert due(mail_lab, at(VISIT_DAY - timedelta(days=7), 0)) == 2
    assert due(mail_lab, at(VISIT_DAY - timedelta(days=7), 9)) == 0
    assert due(mail_lab, at(VISIT_DAY - timedelta(days=1), 9)) == 0
    assert count(mail_lab, OutboxMail, kind=MailKind.REMINDER.value) == 2
    assert count(mail_lab, VisitMail, kind=MailKind.REMINDER.value) == 2

    messages = delivered(mail_lab, smtp_server, 2)
    [de] = addressed_to(messages, "hanna@hilden.example")
    [en] = addressed_to(messages, "ann@archer.example")
    assert de["Subject"] == "Erinnerung: Ihr Besuch im LibraryLab Düsseldorf am 20.03.2031"
    text, html = body_of(de)
    for part in (text, html):
        assert "Guten Tag Hanna Hilden," in part
        assert "Donnerstag, 20. März 2031" in part
        assert "Besuch: 10:00–14:00" in part
        assert "Praxisteil an den Stationen: 11:00–12:20" in part
        assert f"Wechselplan: {groups} Gruppen" in part
        for start, end in slots:
            assert f"{start}–{end}" in part
        assert "Vereinbartes Thema: Gaming in der Bibliothek" in part
    assert '<html lang="de">' in html
    assert en["Subject"] == "Reminder: your visit to LibraryLab Düsseldorf on Mar 20, 2031"
    text, html = body_of(en)
    for part in (text, html):
        assert "Hello Ann Archer," in part
        assert "Thursday, March 20, 2031" in part
        assert "Visit: 10:00–14:00" in part
        assert "Agreed topic: Games in the library" in part
        assert "Hands-on" not in part
        assert "Rotation" not in part
    assert '<html lang="en">' in html


def test_a_moved_visit_gets_a_new_reminder_and_a_changed_mail(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    lab = sqlite_mail_lab
    visit = book(lab)
    assert due(lab, at(VISIT_DAY - timedelta(days=7))) == 1
    later = VISIT_DAY + timedelta(days=3)
    moved = lab.client.patch(
        f"/api/visits/{visit}", json={"date": later.isoformat()}, headers=lab.headers()
    )
    assert moved.status_code == 200, moved.text
    assert due(lab, at(VISIT_DAY - timedelta(days=5))) == 0  # the new date is 8 days away
    assert due(lab, at(later - timedelta(days=7))) == 1
    assert due(lab, at(later - timedelta(days=6))) == 0
    with lab.sessions() as session:
        occasions = session.scalars(
            select(VisitMail.occasion).where(VisitMail.kind == MailKind.REMINDER.value)
        ).all()
    assert sorted(occasions) == [VISIT_DAY.isoformat(), later.isoformat()]
    messages = delivered(lab, smtp_server, 3)
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects == [
        "Erinnerung: Ihr Besuch im LibraryLab Düsseldorf am 20.03.2031",
        "Erinnerung: Ihr Besuch im LibraryLab Düsseldorf am 23.03.2031",
        "Ihr Besuch im LibraryLab Düsseldorf hat sich geändert: jetzt am 23.03.2031",
    ]


def test_no_reminder_for_free_requested_cancelled_erased_or_contactless_visits(
    sqlite_mail_lab: Lab,
) -> None:
    lab = sqlite_mail_lab
    book(lab, status="free", library="", participants=0)
    book(lab, status="requested")
    book(lab, status="cancelled")
    book(lab, contact_email="")
    erased = book(lab)
    with database.transaction(lab.sessions) as session:
        visit = session.get(Visit, erased)
        assert visit is not None
        visit.contact_erased_at = datetime.now(UTC)
    for day in range(8, -16, -1):  # every day from before the reminder to after the follow-ups
        assert due(lab, at(VISIT_DAY - timedelta(days=day))) == 0
    assert due(lab, at(VISIT_DAY + timedelta(days=1)) + FOLLOW_UP_REMINDER_AFTER) == 0
    assert count(lab, OutboxMail) == 0
    assert count(lab, VisitMail) == 0


def test_after_weeks_off_no_reminder_for_a_visit_that_began_and_no_stale_follow_up(
    sqlite_mail_lab: Lab,
) -> None:
    lab = sqlite_mail_lab
    book(lab)
    assert due(lab, at(VISIT_DAY, 0)) == 0  # the day itself: too late for a reminder
    assert due(lab, at(VISIT_DAY, 23)) == 0  # nor a follow-up yet
    late = VISIT_DAY + FOLLOW_UP_CATCH_UP + timedelta(days=1)
    assert due(lab, at(late)) == 0  # a week after the visit: too late for "thank you"
    assert count(lab, OutboxMail) == 0
    assert due(lab, at(VISIT_DAY + FOLLOW_UP_CATCH_UP)) == 1  # the last day it still goes


def test_follow_up_the_day_after_carries_a_personal_link_and_one_reminder_after_14_days(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    quiet = book(mail_lab)
    posting = book(
        mail_lab,
        library="Stadtbücherei Ratingen",
        contact_name="Rita Ratingen",
        contact_email="rita@ratingen.example",
        contact_language="en",
        posts=[{"kind": "instagram"}, {"kind": "blog"}],
    )
    book(mail_lab, contact_email="nopost@example.org", posts=[])  # promised nothing
    book(mail_lab, contact_email="done@example.org", posts=[{"kind": "blog", "published": True}])
    assert due(mail_lab, at(VISIT_DAY, 22)) == 0
    assert due(mail_lab, at(VISIT_DAY + timedelta(days=1), 0)) == 2
    assert due(mail_lab, at(VISIT_DAY + timedelta(days=2))) == 0

    messages = delivered(mail_lab, smtp_server, 2)
    [de] = addressed_to(messages, "hanna@hilden.example")
    [en] = addressed_to(messages, "rita@ratingen.example")
    assert (
        de["Subject"] == "Danke für Ihren Besuch im LibraryLab Düsseldorf: Ihr #librarylab-Beitrag"
    )
    assert (
        en["Subject"] == "Thank you for your visit to LibraryLab Düsseldorf: your #librarylab post"
    )
    de_text, de_html = body_of(de)
    en_text, _ = body_of(en)
    assert "(Blog)" in de_text
    assert "(Instagram, blog)" in en_text
    [de_link] = set(LINK.findall(de_text))
    [en_link] = set(LINK.findall(en_text))
    assert f'href="{de_link}"' in de_html
    assert de_link != en_link
    with mail_lab.sessions() as session:
        nonces = {v.id: v.post_link_nonce for v in session.scalars(select(Visit))}
    assert nonces[quiet]
    assert nonces[posting]

    # Ratingen enters its posts through the link; Hilden stays silent.
    client = mail_lab.client
    path = en_link.removeprefix("http://localhost:8000")
    answer = submit(
        client,
        path,
        path,
        {
            f"post_{p['id']}": f"https://ratingen.example/{p['kind']}"
            for p in posts_of(mail_lab, posting)
        },
    )
    assert answer.status_code == 303, answer.text

    follow_up = VISIT_DAY + timedelta(days=1)
    assert due(mail_lab, at(follow_up, 0) + FOLLOW_UP_REMINDER_AFTER - timedelta(hours=1)) == 0
    assert due(mail_lab, at(follow_up, 0) + FOLLOW_UP_REMINDER_AFTER) == 1
    assert due(mail_lab, at(follow_up, 0) + FOLLOW_UP_REMINDER_AFTER + timedelta(days=3)) == 0
    assert count(mail_lab, OutboxMail, kind=MailKind.FOLLOW_UP_REMINDER.value) == 1
    messages = delivered(mail_lab, smtp_server, 3)
    [reminder] = [m for m in messages if m["Subject"].startswith("Kurze Erinnerung")]
    assert reminder["To"] == "hanna@hilden.example"
    assert de_link in body_of(reminder)[0]  # the same personal link


def posts_of(lab: Lab, visit_id: int) -> list[dict[str, Any]]:
    """The visit's posts with their ids, as the post page names its fields."""
    with lab.sessions() as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None
        return [{"id": p.id, "kind": p.kind.value} for p in visit.posts]


def test_changed_and_cancelled_mails_from_the_api(mail_lab: Lab, smtp_server: SmtpServer) -> None:
    visit = book(mail_lab, contact_language="en")
    untold = book(mail_lab, status="requested", contact_email="asked@example.org")
    headers = mail_lab.headers()
    for change in ({"notes": "Bring a projector"}, {"topic": "VR"}, {"participants": 12}):
        assert mail_lab.client.patch(
            f"/api/visits/{visit}", json=change, headers=headers
        ).is_success
    assert count(mail_lab, OutboxMail) == 0  # nothing that changes the library's day

    moved = {"start": "09:30", "hands_on_start": "10:30", "hands_on_end": "11:50"}
    assert mail_lab.client.patch(f"/api/visits/{visit}", json=moved, headers=headers).is_success
    [changed] = delivered(mail_lab, smtp_server, 1)
    assert (
        changed["Subject"] == "Your visit to LibraryLab Düsseldorf has changed: now on Mar 20, 2031"
    )
    text, _ = body_of(changed)
    now, before = text.split("Before:")
    assert "Visit: 09:30–14:00" in now
    assert "Hands-on at the stations: 10:30–11:50" in now
    assert "Visit: 10:00–14:00" in before
    assert "Hands-on at the stations: 11:00–12:20" in before

    cancel = {"status": "cancelled"}
    assert mail_lab.client.patch(f"/api/visits/{untold}", json=cancel, headers=headers).is_success
    assert mail_lab.client.patch(f"/api/visits/{visit}", json=cancel, headers=headers).is_success
    messages = delivered(mail_lab, smtp_server, 2)
    assert len(messages) == 2
    assert (
        messages[1]["Subject"] == "Your visit to LibraryLab Düsseldorf on Mar 20, 2031 is cancelled"
    )
    assert messages[1]["To"] == "hanna@hilden.example"
    assert count(mail_lab, VisitMail, kind=MailKind.CANCELLED.value) == 1
    assert count(mail_lab, OutboxMail) == 2  # the request turned down got none from here


def test_changed_and_cancelled_mails_from_the_edit_page(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    lab = sqlite_mail_lab
    visit = book(lab)
    client = lab.client
    assert login(client, "sam", STAFF_PASSWORD).status_code == 303
    form = {
        "library": "Stadtbibliothek Hilden",
        "date": "2031-03-21",
        "start": "10:00",
        "end": "14:00",
        "hands_on_start": "11:00",
        "hands_on_end": "12:20",
        "participants": "9",
        "topic": "Gaming in der Bibliothek",
        "contact_name": "Hanna Hilden",
        "contact_email": "hanna@hilden.example",
        "status": "confirmed",
        "post_blog_promised": "on",
    }
    page = f"/visits/{visit}"
    assert submit(client, page, page, form).status_code == 303
    assert submit(client, page, page, form).status_code == 303  # saved again unchanged
    assert submit(client, page, page, form | {"status": "cancelled"}).status_code == 303
    messages = delivered(lab, smtp_server, 2)
    assert [m["Subject"] for m in messages] == [
        "Ihr Besuch im LibraryLab Düsseldorf hat sich geändert: jetzt am 21.03.2031",
        "Ihr Besuch im LibraryLab Düsseldorf am 21.03.2031 ist abgesagt",
    ]
    assert "Donnerstag, 20. März 2031" in body_of(messages[0])[0]  # what it was before
    assert count(lab, OutboxMail) == 2


def test_no_mail_carries_another_visits_contact_address(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    lab = sqlite_mail_lab
    contacts = [f"contact{n}@library{n}.example" for n in range(4)]
    for n, address in enumerate(contacts):
        book(
            lab,
            library=f"Bibliothek {n}",
            contact_name=f"Person {n}",
            contact_email=address,
            contact_language=("de", "en")[n % 2],
        )
    assert due(lab, at(VISIT_DAY - timedelta(days=3))) == 4
    assert due(lab, at(VISIT_DAY + timedelta(days=1))) == 4
    messages = delivered(lab, smtp_server, 8)
    assert len(messages) == 8
    for message, raw, envelope in zip(
        messages, smtp_server.raw, smtp_server.envelopes, strict=True
    ):
        [own] = envelope
        n = contacts.index(own)
        content = raw.decode("utf-8", "replace") + "".join(body_of(message))
        for other, address in enumerate(contacts):
            if other != n:
                assert address not in content
                assert f"Person {other}" not in content
                assert f"Bibliothek {other}" not in content
