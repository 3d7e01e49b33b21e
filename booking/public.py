"""The public side of visit requests, without a login: the request page and its JSON twin,
the opt-in confirmation and the privacy text.

Robots are kept out without third-party captchas: a honeypot field (``website``) that people
never see, a minimum time between showing the form and sending it (a signed timestamp in
the form), limits per client address and per e-mail address (``booking.limits``), and size
limits on every field. No answer tells whether an address is known: every accepted request,
a robot's in the honeypot and one over its address's daily limit alike, gets the same answer.

The JSON twin has every rule but the fill time: a script has no form that was shown, and
the robots a fill time stops are those that post every HTML form they find. The opt-in mail
and the limits hold it as they hold the form.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from pydantic import Field, StrictBool, StrictInt
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from booking import intake, limits
from booking.model import MAX_LENGTHS, MAX_REQUEST_PARTICIPANTS, MAX_TOPICS, OPT_IN_VALID, Channel
from librarylab import forms
from librarylab.accounts.throttle import client_address
from librarylab.deps import FormDep, SessionDep, SettingsDep
from librarylab.errors import DomainError, InvalidInput
from librarylab.problems import MEDIA_TYPE, ProblemDetails
from librarylab.schemas import HHMM, OutModel, StrictModel
from librarylab.settings import LANGUAGES, Language, Settings
from librarylab.templating import gettext_for, render, request_language
from visits.model import TOPIC_SUGGESTIONS
from visits.orm import Visit

log = logging.getLogger(__name__)
router = APIRouter(tags=["visit requests"])

HONEYPOT = "website"  # a field only robots fill in
STARTED = "started"  # the signed moment the form was shown
FORM_SALT = "booking.request-form"
FORM_VALID = timedelta(days=1)
ACCEPTED_DETAIL = (
    "Thank you. A confirmation link is on its way to the given address; the request "
    "counts once the link is followed, within 48 hours."
)


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


# --- JSON shapes ------------------------------------------------------------------------


class FreeDate(OutModel):
    """A date a library can ask for."""

    id: int = Field(description="Name it as `visit_id` in a request.")
    date: str = Field(description="YYYY-MM-DD")
    start: HHMM
    end: HHMM
    hands_on_start: HHMM | None = Field(description="The hands-on block (VR, gaming, 3D print).")
    hands_on_end: HHMM | None
    round: str | None = Field(description="The planning round the date belongs to.")

    @classmethod
    def of(cls, visit: Visit) -> FreeDate:
        return cls(
            id=visit.id,
            date=visit.date.isoformat(),
            start=visit.start,
            end=visit.end,
            hands_on_start=visit.hands_on_start,
            hands_on_end=visit.hands_on_end,
            round=visit.round.name if visit.round else None,
        )


class VisitRequestIn(StrictModel):
    """A library's request for a visit."""

    library: str = Field(min_length=1, max_length=MAX_LENGTHS["library"])
    town: str = Field(min_length=1, max_length=MAX_LENGTHS["town"])
    contact_name: str = Field(min_length=1, max_length=MAX_LENGTHS["contact_name"])
    contact_email: str = Field(min_length=3, max_length=MAX_LENGTHS["contact_email"])
    participants: StrictInt = Field(ge=1, le=MAX_REQUEST_PARTICIPANTS)
    topics: list[Annotated[str, Field(max_length=MAX_LENGTHS["topic"])]] = Field(
        min_length=1,
        max_length=MAX_TOPICS,
        description="Future topics to discuss, e.g. " + "; ".join(TOPIC_SUGGESTIONS[:3]),
    )
    wishes: str = Field(default="", max_length=MAX_LENGTHS["wishes"])
    channels: list[Channel] = Field(
        default_factory=list, max_length=len(Channel), description="Where you will post."
    )
    language: Language = Field(default="de", description="The language of the mails.")
    visit_id: StrictInt | None = Field(
        default=None, description="A free date's id (GET /api/free-dates); null: none fits."
    )
    consent: StrictBool = Field(description="Agreement to the data handling (/privacy).")
    website: str = Field(default="", max_length=200, description="Leave empty.")


class RequestAccepted(OutModel):
    detail: str
    confirm_within_hours: int


class DateTakenProblem(ProblemDetails):
    free_dates: list[FreeDate] = Field(description="The dates that are free now.")


# --- the shared path of the form and the JSON twin --------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _take(
    session: Session,
    request: Request,
    settings: Settings,
    checked: intake.RequestInput,
    honeypot: str,
) -> None:
    """Count and store the request, or pretend to. Raises RateLimited (nothing stored) and
    DateTaken; the caller commits."""
    now = _now()
    address = limits.address_subject(client_address(request))
    wait = limits.count(session, address, limits.PER_ADDRESS, now)
    if wait is not None:
        raise RateLimited(wait)
    if honeypot:
        log.info("visit request dropped: the honeypot field was filled in")
        return
    key = settings.secret_key.get_secret_value()
    subject = limits.email_subject(checked.contact_email, key)
    if limits.count(session, subject, limits.PER_EMAIL, now) is not None:
        # Answered like any other: a refusal would tell whether others used this address.
        log.info("visit request dropped: its e-mail address reached its daily limit")
        return
    intake.submit(session, checked, now=now, settings=settings)


def _dates_problem(exc: intake.DateTaken) -> DateTakenProblem:
    return DateTakenProblem(
        type="/problems/conflict",
        title="The request clashes with stored data",
        status=409,
        detail=exc.message,
        field="visit_id",
        fixes=["Choose one of free_dates, or send visit_id null."],
        free_dates=[FreeDate.of(v) for v in exc.free_dates],
    )


def _taken_schema() -> dict[str, Any]:
    """The 409 body's schema; the shapes it names are in the document's components."""
    schema = DateTakenProblem.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    schema.pop("$defs", None)
    return schema


# --- JSON API ---------------------------------------------------------------------------


@router.get(
    "/api/free-dates",
    summary="Dates libraries can ask for",
    description="The free dates of the open rounds, from tomorrow on; no login needed.",
)
def read_free_dates(session: SessionDep, settings: SettingsDep) -> list[FreeDate]:
    today = intake.lab_today(_now(), settings)
    return [FreeDate.of(v) for v in intake.offered_dates(session, today)]


@router.post(
    "/api/visit-requests",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RequestAccepted,
    summary="Ask for a visit",
    description="The JSON twin of the form at /request, under the same rules; no login "
    "needed. The request counts only once the link in the confirmation mail is followed "
    "(within 48 hours). Every accepted request gets the same answer.",
    responses={
        409: {
            "description": "The date named is not free (any more): `free_dates` lists those "
            "that are.",
            "content": {MEDIA_TYPE: {"schema": _taken_schema()}},
        },
        403: {
            "description": "A browser that holds this site's cookies sent no `x-csrftoken` "
            "header (scripts without cookies need none).",
        },
        429: {
            "description": "Too many requests from this client address; `Retry-After` says "
            "how many seconds to wait.",
        },
    },
)
def create_visit_request(
    request: Request, body: VisitRequestIn, session: SessionDep, settings: SettingsDep
) -> Response:
    values = body.values()
    values["channels"] = [c.value for c in body.channels]
    checked = intake.checked_request(values)
    try:
        _take(session, request, settings, checked, body.website)
    except intake.DateTaken as exc:
        session.rollback()
        taken = _dates_problem(exc)
        return JSONResponse(taken.model_dump(mode="json"), 409, media_type=MEDIA_TYPE)
    except RateLimited as exc:
        session.rollback()
        minutes = -(-exc.retry_after // 60)
        problem = ProblemDetails(
            title="Too Many Requests",
            status=429,
            detail=f"Too many requests from this address; try again in {minutes} min.",
        )
        return JSONResponse(
            problem.model_dump(mode="json"),
            429,
            headers={"Retry-After": str(exc.retry_after)},
            media_type=MEDIA_TYPE,
        )
    session.commit()
    answer = RequestAccepted(
        detail=ACCEPTED_DETAIL, confirm_within_hours=int(OPT_IN_VALID.total_seconds() // 3600)
    )
    return JSONResponse(answer.model_dump(mode="json"), status.HTTP_202_ACCEPTED)


# --- pages ------------------------------------------------------------------------------


def _signer(settings: Settings) -> TimestampSigner:
    return TimestampSigner(settings.secret_key.get_secret_value(), salt=FORM_SALT)


def _fill_problem(form: FormData, settings: Settings) -> InvalidInput | None:
    """Why the form cannot be taken as a person's: sent too soon after it was shown, or
    with a start mark that is missing, forged or a day old."""
    try:
        _value, shown = _signer(settings).unsign(
            forms.text(form, STARTED),
            max_age=int(FORM_VALID.total_seconds()),
            return_timestamp=True,
        )
    except (BadSignature, SignatureExpired):
        return InvalidInput("The form has expired. Please check your entries and send it again.")
    if (_now() - shown).total_seconds() < settings.request_min_fill_seconds:
        return InvalidInput(
            "The form was sent very quickly. Please check your entries and send it again."
        )
    return None


def _page_values(form: FormData | None, language: Language) -> dict[str, Any]:
    """The form's fields as the page shows them again."""
    if form is None:
        return {"language": language, "topics": [], "channels": [], "visit_id": None}
    values: dict[str, Any] = {
        name: forms.text(form, name)
        for name in ("library", "town", "contact_name", "contact_email", "participants", "wishes")
    }
    values["topics"] = [str(t) for t in form.getlist("topics") if isinstance(t, str)]
    values["other_topic"] = forms.text(form, "other_topic")
    values["channels"] = [str(c) for c in form.getlist("channels")]
    values["language"] = forms.text(form, "language") or language
    values["visit_id"] = forms.text(form, "visit_id") or None
    values["consent"] = forms.checkbox(form, "consent")
    return values


def _form_request(form: FormData) -> dict[str, Any]:
    """The form's fields in the shape ``intake.checked_request`` takes."""
    participants: Any = forms.text(form, "participants")
    if participants.isdigit() and len(participants) < 10:
        participants = int(participants)
    visit = forms.text(form, "visit_id")
    if visit and not visit.isdigit():
        raise InvalidInput("Choose one of the free dates, or none.", "visit_id")
    topics = [t for t in form.getlist("topics") if isinstance(t, str)]
    topics.append(forms.text(form, "other_topic"))
    return {
        "library": forms.text(form, "library"),
        "town": forms.text(form, "town"),
        "contact_name": forms.text(form, "contact_name"),
        "contact_email": forms.text(form, "contact_email"),
        "participants": participants,
        "topics": topics,
        "wishes": forms.text(form, "wishes"),
        "channels": [c for c in form.getlist("channels") if isinstance(c, str)],
        "language": forms.text(form, "language"),
        "visit_id": int(visit) if visit and len(visit) < 10 else None,
        "consent": forms.checkbox(form, "consent"),
    }


def _request_page(
    request: Request,
    session: Session,
    settings: Settings,
    form: FormData | None = None,
    error: DomainError | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    _ = gettext_for(request)
    language = request_language(request)
    today = intake.lab_today(_now(), settings)
    return render(
        request,
        "booking/request.html",
        {
            "groups": intake.public_dates(session, today),
            "values": _page_values(form, language),
            "suggestions": TOPIC_SUGGESTIONS,
            "channels": list(Channel),
            "max_lengths": MAX_LENGTHS,
            "max_participants": MAX_REQUEST_PARTICIPANTS,
            "max_topics": MAX_TOPICS,
            "started": _signer(settings).sign(b"request").decode(),
            "error": error.translated(_) if error else None,
            "error_field": error.field if error else None,
            "languages": LANGUAGES,
        },
        status_code=status_code,
    )


@router.get("/request", include_in_schema=False)
def request_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    return _request_page(request, session, settings)


@router.post("/request", include_in_schema=False)
def send_request(
    request: Request, session: SessionDep, settings: SettingsDep, form: FormDep
) -> Response:
    problem = _fill_problem(form, settings)
    if problem is not None:
        return _request_page(request, session, settings, form, problem, 422)
    try:
        checked = intake.checked_request(_form_request(form))
        _take(session, request, settings, checked, forms.text(form, HONEYPOT))
    except intake.DateTaken as exc:
        session.rollback()
        return _request_page(request, session, settings, form, exc, status.HTTP_409_CONFLICT)
    except DomainError as exc:
        session.rollback()
        return _request_page(request, session, settings, form, exc, 422)
    except RateLimited as exc:
        session.rollback()
        _ = gettext_for(request)
        error = InvalidInput(
            "Too many requests from this address; try again in {minutes} min.",
            minutes=-(-exc.retry_after // 60),
        )
        response = _request_page(request, session, settings, form, error, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    session.commit()
    return RedirectResponse("/request/sent", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/request/sent", include_in_schema=False)
def request_sent_page(request: Request) -> Response:
    return render(request, "booking/request_sent.html")


@router.get("/request/confirm/{secret}", include_in_schema=False)
def confirm_page(request: Request, secret: str, session: SessionDep) -> Response:
    """Only shows a button: mail scanners open links, and a GET must not confirm."""
    found = intake.pending(session, secret, _now())
    return render(
        request,
        "booking/request_confirm.html",
        {"outcome": "ask" if found else "invalid", "found": found},
        status_code=status.HTTP_200_OK if found else status.HTTP_404_NOT_FOUND,
    )


@router.post("/request/confirm/{secret}", include_in_schema=False)
def confirm_request(
    request: Request, secret: str, session: SessionDep, settings: SettingsDep
) -> Response:
    confirmed = intake.confirm(session, secret, now=_now(), settings=settings)
    session.commit()
    outcome = "invalid" if confirmed is None else "taken" if confirmed.date_taken else "confirmed"
    return render(
        request,
        "booking/request_confirm.html",
        {"outcome": outcome, "found": confirmed.request if confirmed else None},
        status_code=status.HTTP_404_NOT_FOUND if confirmed is None else status.HTTP_200_OK,
    )


@router.get("/privacy", include_in_schema=False)
def privacy_page(request: Request, settings: SettingsDep) -> Response:
    return render(request, "booking/privacy.html", {"months": settings.personal_data_months})
