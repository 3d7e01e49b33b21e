"""The staff page of the outbox: what went out, what waits, what failed and why."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from librarylab import forms
from librarylab.deps import FormDep, PageUser, SessionDep
from librarylab.errors import DomainError
from librarylab.schemas import RecordId
from librarylab.settings import Settings
from librarylab.templating import gettext_for, lab_time, render, request_language
from mail import service

router = APIRouter(prefix="/mail", include_in_schema=False)


def _see() -> RedirectResponse:
    return RedirectResponse("/mail", status_code=status.HTTP_303_SEE_OTHER)


def _page(request: Request, session: SessionDep, error: DomainError | None = None) -> Response:
    settings: Settings = request.app.state.settings
    sender = getattr(request.app.state, "mail_sender", None)
    return render(
        request,
        "mail/page.html",
        {
            "mails": [
                (
                    m,
                    lab_time(request, m.created_at),
                    lab_time(request, m.sent_at),
                )
                for m in service.list_mails(session)
            ],
            "counts": service.counts(session),
            "enabled": settings.mail_enabled,
            "problem": sender.problem if sender is not None else None,
            "error": error.translated(gettext_for(request)) if error else None,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )


@router.get("")
def mail_page(request: Request, session: SessionDep, _user: PageUser) -> Response:
    return _page(request, session)


@router.post("/{mail_id}/resend")
def resend_mail(
    request: Request, mail_id: RecordId, session: SessionDep, _user: PageUser
) -> Response:
    try:
        service.resend(session, mail_id)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, exc)
    session.commit()
    return _see()


@router.post("/test")
def send_test_mail(
    request: Request, session: SessionDep, _user: PageUser, form: FormDep
) -> Response:
    """A test mail in the reader's language, to check the SMTP settings end to end."""
    settings: Settings = request.app.state.settings
    language = request_language(request)
    mail = service.render("test", language, lab_name=settings.lab_name, lang=language)
    try:
        service.enqueue(
            session,
            to=forms.text(form, "to"),
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            language=language,
            kind="test",
        )
    except DomainError as exc:
        session.rollback()
        return _page(request, session, exc)
    session.commit()
    return _see()
