"""JSON API of the outbox: read it, send a failed mail again (staff)."""

from __future__ import annotations

from fastapi import APIRouter

from librarylab.deps import CurrentUser, SessionDep
from librarylab.schemas import RecordId
from mail import service
from mail.model import MailState
from mail.schemas import MailOut

router = APIRouter(prefix="/api/mail", tags=["mail"])


@router.get("")
def read_mails(
    session: SessionDep, _user: CurrentUser, state: MailState | None = None
) -> list[MailOut]:
    """The newest 200 mails (of ``state``), newest first; without their bodies."""
    return [MailOut.of(mail) for mail in service.list_mails(session, state)]


@router.post("/{mail_id}/resend")
def resend_mail(mail_id: RecordId, session: SessionDep, _user: CurrentUser) -> MailOut:
    """Queue a failed mail again (409 for any other state); the sender tries it at once."""
    mail = service.resend(session, mail_id)
    session.commit()
    return MailOut.of(mail)
