"""The sender: claims due mails from the outbox with a lease, sends them, settles each.

Every instance on the same database runs one; the claim (see :func:`mail.service.claim`)
makes sure a mail goes to one of them. A mail is marked sent in its own commit right after
the server took it, so a crash loses at most that one mark (the mail may then go out twice,
with the same Message-ID; an SMTP server that is down loses nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from librarylab.database import transaction
from librarylab.ticker import Ticker
from mail import service
from mail.orm import OutboxMail
from mail.smtp import Connection, Letter, MailRefused, ServerTrouble, SmtpAddress

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def wake_on_commit(sessions: sessionmaker[Session], wake: Callable[[], None]) -> None:
    """Call ``wake`` after each commit of a session that added or re-queued a mail."""

    def committed(session: Session) -> None:
        if session.info.pop(service.ENQUEUED, False):
            wake()

    def rolled_back(session: Session) -> None:
        session.info.pop(service.ENQUEUED, None)

    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_rollback", rolled_back)


class Sender(Ticker):
    """Delivers the outbox over one SMTP server."""

    name = "mail-sender"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        address: SmtpAddress,
        mail_from: str,
        *,
        timeout: float = 10,
        poll_seconds: float = 5,
        batch: int = 20,
        clock: Clock = _now,
    ) -> None:
        self._sessions = sessions
        self._address = address
        self._from = mail_from
        self._timeout = timeout
        self._batch = batch
        self._clock = clock
        super().__init__(poll_seconds)
        # Why the server could not be used at the last try; None once it worked again.
        self.problem: str | None = None

    def run_once(self) -> int:
        """Claim one batch of due mails and try each; how many were tried."""
        with transaction(self._sessions) as session:
            claimed = dict(service.claim(session, self._clock(), self._batch))
        if not claimed:
            return 0
        with self._sessions() as session:
            mails = session.scalars(select(OutboxMail).where(OutboxMail.id.in_(claimed))).all()
            letters = {mail.id: self._letter(mail) for mail in mails}
        waiting = sorted(letters)
        try:
            with Connection(self._address, self._timeout) as connection:
                self.problem = None
                while waiting:
                    mail_id = waiting[0]
                    try:
                        connection.send(letters[mail_id])
                    except MailRefused as exc:
                        self._settle_failed(mail_id, claimed[mail_id], exc)
                    else:
                        with transaction(self._sessions) as session:
                            service.mark_sent(session, mail_id, claimed[mail_id], self._clock())
                        log.info("mail %s sent", mail_id)
                    waiting.pop(0)
        except ServerTrouble as exc:
            self.problem = exc.failure.text
            log.warning("mail not sent: %s; %d mails wait", exc.failure.text, len(waiting))
            for mail_id in waiting:
                self._settle_failed(mail_id, claimed[mail_id], exc)
        return len(claimed)

    def _letter(self, mail: OutboxMail) -> Letter:
        return Letter(
            message_id=mail.message_id,
            sender=self._from,
            recipient=mail.recipient,
            subject=mail.subject,
            text=mail.text_body,
            html=mail.html_body,
            language=mail.language,
            attachments=service.attachments_of(mail),
        )

    def _settle_failed(self, mail_id: int, attempt: int, exc: MailRefused | ServerTrouble) -> None:
        with transaction(self._sessions) as session:
            state = service.mark_failed(session, mail_id, attempt, exc.failure, self._clock())
        log.info("mail %s attempt %d: %s (%s)", mail_id, attempt, exc.failure.text, state.value)

    def tick(self) -> int:
        return self.run_until_idle()

    def run_until_idle(self) -> int:
        """Work through every due mail; how many attempts were made."""
        total = 0
        while tried := self.run_once():
            total += tried
        return total

    def failed(self, exc: Exception) -> None:
        if isinstance(exc, SQLAlchemyError):  # the health check reports the database
            log.warning("cannot read the outbox: %s", type(exc).__name__)
        else:  # keep sending the others; claimed mails return later
            log.error("mail sender: unexpected %s", type(exc).__name__)
