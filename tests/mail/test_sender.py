"""The outbox and its sender against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from jinja2 import UndefinedError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from librarylab import database
from librarylab.errors import InvalidInput
from mail import service
from mail.model import MailState
from mail.orm import OutboxMail
from mail.sender import Sender
from mail.smtp import SmtpAddress
from tests.mail.smtp_server import SmtpServer

FROM = "LibraryLab <lab@example.org>"
ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//LibraryLab//DE\r\nEND:VCALENDAR\r\n"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def sender_for(sessions: sessionmaker[Session], url: str, clock: Clock) -> Sender:
    return Sender(sessions, SmtpAddress.parse(url), FROM, timeout=5, clock=clock)


def queue_mail(
    sessions: sessionmaker[Session], clock: Clock, to: str = "anna@example.org", n: int = 1
) -> list[int]:
    with database.transaction(sessions) as session:
        mails = [
            service.enqueue(
                session,
                to=to,
                subject=f"Ihr Besuch Nr. {i}",
                text=f"Hallo, Nummer {i}",
                language="de",
                now=clock(),
            )
            for i in range(n)
        ]
        session.flush()
        return [mail.id for mail in mails]


def states(sessions: sessionmaker[Session]) -> list[OutboxMail]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_a_mail_of_a_rolled_back_change_is_never_sent(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    clock = Clock()

    def failing_change() -> None:
        with database.transaction(sessions) as session:
            service.enqueue(
                session, to="anna@example.org", subject="Hallo", text="x", language="de"
            )
            raise RuntimeError("the change that caused the mail fails")

    with pytest.raises(RuntimeError):
        failing_change()
    queue_mail(sessions, clock, to="ben@example.org")
    assert sender_for(sessions, smtp_server.url, clock).run_until_idle() == 1
    assert [m["To"] for m in smtp_server.messages] == ["ben@example.org"]


def test_text_html_and_a_calendar_file_arrive_intact(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    clock = Clock()
    subject = "Ihr Besuch im LibraryLab – Bestätigung für Gruppe Ö"
    with database.transaction(sessions) as session:
        mail = service.enqueue(
            session,
            to="Anna.Müller@example.org",
            subject=subject,
            text="Guten Tag,\nIhr Besuch ist bestätigt.\n",
            html="<p>Guten Tag,</p><p>Ihr Besuch ist <b>bestätigt</b>.</p>",
            language="de",
            attachments=[("besuch.ics", "text/calendar", ICS)],
            kind="visit-confirmed",
            now=clock(),
        )
        session.flush()
        message_id = mail.message_id
    sender_for(sessions, smtp_server.url, clock).run_until_idle()

    [message] = smtp_server.messages
    assert message["Subject"] == subject
    assert message["From"] == FROM
    assert message["To"] == "Anna.Müller@example.org"
    assert message["Message-ID"] == message_id
    assert message["Content-Language"] == "de"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == "Guten Tag,\nIhr Besuch ist bestätigt.\n"
    assert "<b>bestätigt</b>" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "besuch.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_payload(decode=True) == ICS
    [stored] = states(sessions)
    assert (stored.state, stored.attempts, stored.sent_at) == (MailState.SENT, 1, clock.now)


def test_mail_queued_while_the_server_is_down_arrives_once_when_it_is_back(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    clock = Clock()
    ids = queue_mail(sessions, clock, n=5)
    sender = sender_for(sessions, smtp_server.url, clock)
    smtp_server.stop()

    assert sender.run_until_idle() == 5
    assert (sender.problem or "") == "SMTP server unreachable (ConnectionRefusedError)"
    waiting = states(sessions)
    assert {(m.state, m.attempts) for m in waiting} == {(MailState.QUEUED, 1)}
    assert waiting[0].last_error == "SMTP server unreachable (ConnectionRefusedError)"
    assert sender.run_until_idle() == 0, "not before the back-off has passed"

    clock.now += timedelta(seconds=30)
    assert sender.run_until_idle() == 5  # still down: the second attempt waits a minute
    clock.now += timedelta(seconds=60)
    smtp_server.start()
    assert sender.run_until_idle() == 5
    clock.now += timedelta(hours=2)
    assert sender.run_until_idle() == 0

    assert sender.problem is None
    assert len(smtp_server.messages) == 5
    assert Counter(m["Subject"] for m in smtp_server.messages) == Counter(
        f"Ihr Besuch Nr. {i}" for i in range(5)
    )
    assert {(m.id, m.state, m.attempts) for m in states(sessions)} == {
        (mail_id, MailState.SENT, 3) for mail_id in ids
    }


def test_a_refused_recipient_fails_with_the_reason_and_can_be_sent_again(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    clock = Clock()
    smtp_server.refused.add("nobody@example.org")
    [refused] = queue_mail(sessions, clock, to="nobody@example.org")
    queue_mail(sessions, clock, to="anna@example.org")
    sender = sender_for(sessions, smtp_server.url, clock)
    sender.run_until_idle()

    failed, sent = states(sessions)
    assert (failed.state, failed.attempts) == (MailState.FAILED, 1)
    assert failed.last_error == "550 recipient refused: 5.1.1 no such mailbox here"
    assert sent.state is MailState.SENT
    assert [m["To"] for m in smtp_server.messages] == ["anna@example.org"]

    smtp_server.refused.clear()  # the mailbox exists now
    with database.transaction(sessions) as session:
        service.resend(session, refused, now=clock())
    sender.run_until_idle()
    assert states(sessions)[0].state is MailState.SENT
    assert [m["To"] for m in smtp_server.messages] == ["anna@example.org", "nobody@example.org"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hallo\r\nBcc: everyone@example.org"),
        ("subject", "Hallo\nBcc: everyone@example.org"),
        ("to", "anna@example.org\r\nBcc: everyone@example.org"),
        ("to", "anna@example.org, everyone@example.org"),
    ],
)
def test_header_injection_is_refused_when_the_mail_is_queued(
    sessions: sessionmaker[Session], field: str, value: str
) -> None:
    values = {"to": "anna@example.org", "subject": "Hallo"} | {field: value}
    with sessions() as session:
        with pytest.raises(InvalidInput) as refused:
            service.enqueue(session, text="x", language="de", **values)  # type: ignore[arg-type]
        assert refused.value.field == field
        assert not session.new


def test_neither_the_body_nor_the_password_reaches_the_log(
    sessions: sessionmaker[Session], smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A password is only sent over TLS: this server offers no STARTTLS, so the mail waits."""
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    body = "Geheimer Inhalt 4711"
    with database.transaction(sessions) as session:
        service.enqueue(
            session,
            to="anna@example.org",
            subject="Hallo",
            text=body,
            html=f"<p>{body}</p>",
            language="de",
            now=clock(),
        )
    url = f"smtp://lab:pa55-w0rd-{smtp_server.port}@127.0.0.1:{smtp_server.port}"
    sender = sender_for(sessions, url, clock)
    sender.run_until_idle()

    [mail] = states(sessions)
    assert mail.state is MailState.QUEUED
    assert "no STARTTLS" in mail.last_error
    assert smtp_server.messages == []
    sender_for(sessions, smtp_server.url, clock).run_until_idle()
    clock.now += timedelta(minutes=1)
    sender_for(sessions, smtp_server.url, clock).run_until_idle()
    assert len(smtp_server.messages) == 1
    # aiosmtpd, the test's server, logs as "mail.log": only the service's own lines count.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert "mail 1 sent" in ours
    assert "no STARTTLS" in ours
    assert body not in ours
    assert "pa55-w0rd" not in ours
    assert "pa55-w0rd" not in repr(SmtpAddress.parse(url))


def test_a_mail_claimed_by_an_instance_that_died_goes_out_once_its_lease_ends(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    clock = Clock()
    [mail_id] = queue_mail(sessions, clock)
    with database.transaction(sessions) as session:  # claimed, then the instance is gone
        assert service.claim(session, clock(), 10) == [(mail_id, 1)]
    sender = sender_for(sessions, smtp_server.url, clock)
    assert sender.run_until_idle() == 0, "someone else's lease is respected"
    clock.now += timedelta(minutes=5, seconds=1)
    assert sender.run_until_idle() == 1
    [mail] = states(sessions)
    assert (mail.state, mail.attempts) == (MailState.SENT, 2)
    assert len(smtp_server.messages) == 1
    # The dead instance's late word cannot undo it: its attempt number is stale.
    with database.transaction(sessions) as session:
        assert not service.mark_sent(session, mail_id, 1, clock())


def test_mail_templates_render_in_the_contacts_language() -> None:
    german = service.render("test", "de", lab_name="LibraryLab Köln", lang="de")
    english = service.render("test", "en", lab_name="LibraryLab <Köln>", lang="en")
    assert german.subject == "Testmail von LibraryLab Köln"
    assert german.text.startswith("Guten Tag,\n")
    assert english.subject == "Test mail from LibraryLab <Köln>"
    assert "this is a test mail from LibraryLab <Köln>." in english.text  # plain text stays
    assert "LibraryLab &lt;Köln&gt;" in english.html  # HTML is escaped
    with pytest.raises(UndefinedError):
        service.render("test", "de", lang="de")  # a missing value is an error, not a gap
