"""Where a one-time invitation link goes: into the answer for the admin, and, with mail
configured and an address known, into a mail to the person (queued in the caller's
session, so it exists exactly when the account does)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from librarylab.accounts.orm import User
from librarylab.accounts.service import NewInvitation
from librarylab.settings import Settings
from mail import service as mail

INVITATION_MAIL = "staff_invitation"


def invitation_link(settings: Settings, new: NewInvitation) -> str:
    return f"{settings.public_url}{new.path}"


def send_invitation(
    session: Session, settings: Settings, user: User, new: NewInvitation, *, reset: bool
) -> str | None:
    """Mail the link when SMTP is set and the account has an address; the address, or None.
    Staff read it in the lab's default language."""
    if not settings.mail_enabled or not user.email:
        return None
    mail.queue(
        session,
        INVITATION_MAIL,
        to=user.email,
        language=settings.default_language,
        name=user.name,
        link=invitation_link(settings, new),
        expires_at=new.expires_at,
        zone=ZoneInfo(settings.timezone),
        reset=reset,
        lab_name=settings.lab_name,
    )
    return user.email
