"""JSON API of personal data: export or erase what is stored about one address, and read
the log of such actions.

The address travels in a POST body, never in a URL, so it lands in no access log or
browser history. Export is open to every staff account (staff read the same data on their
pages); erasure needs the admin role, like deleting a visit: it cannot be undone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field

from booking import privacy
from booking.orm import PersonalDataAction
from librarylab.deps import AdminUser, CurrentUser, SessionDep, SettingsDep, announce
from librarylab.schemas import OutModel, StrictModel, Timestamp

router = APIRouter(prefix="/api/personal-data", tags=["personal data"])


class AddressIn(StrictModel):
    email: str = Field(max_length=320, description="The mail address, e.g. name@example.org.")


class ErasedOut(OutModel):
    """How many records the erasure changed."""

    visits: int = Field(description="Visits whose contact was erased.")
    requests: int = Field(description="Requests whose contact was erased.")
    mails_deleted: int = Field(description="Mails not sent yet, deleted.")
    mails_blanked: int = Field(description="Sent mails, kept without address, subject or body.")
    records: int = Field(description="All of these together.")

    @classmethod
    def of(cls, erased: privacy.Erased) -> ErasedOut:
        return cls(
            visits=erased.visits,
            requests=erased.requests,
            mails_deleted=erased.mails_deleted,
            mails_blanked=erased.mails_blanked,
            records=erased.records,
        )


class ActionOut(OutModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    id: int
    at: Timestamp
    action: str = Field(description="export, erase or expire (the periodic erasure).")
    actor: str = Field(description="The staff account, 'cli', or 'system'.")
    subject_digest: str = Field(
        description="HMAC-SHA256, keyed with the service's secret key, of 'personal-data:' "
        "and the address in lower case (empty for the periodic erasure): the log holds no "
        "address, but a known address can be looked up."
    )
    records: int


@router.post(
    "/export",
    response_model=privacy.PersonalData,
    summary="Export everything stored about one mail address",
    responses={422: {"description": "Not a mail address."}},
)
def export_personal_data(
    body: AddressIn, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> Any:
    """Visits and requests whose contact the address is, and the mails to it or naming it
    (with their bodies and attachments), as one JSON document. An address nothing is stored
    about gives empty lists. Each export is logged."""
    data = privacy.export(
        session, body.email, actor=user.name, settings=settings, now=datetime.now(UTC)
    )
    session.commit()
    return data


@router.post(
    "/erase",
    summary="Erase a contact's personal data (admin)",
    responses={
        403: {"description": "Erasure needs the admin role."},
        422: {"description": "Not a mail address."},
    },
)
def erase_personal_data(
    request: Request, body: AddressIn, session: SessionDep, settings: SettingsDep, user: AdminUser
) -> ErasedOut:
    """Blank the contact's name, address and wishes (and the visit's notes) on visits and
    requests, delete unsent mails to the address and blank sent ones. Library, town, date,
    topic and posts stay. Erasing again changes nothing; each erasure is logged."""
    erased = privacy.erase(
        session, body.email, actor=user.name, settings=settings, now=datetime.now(UTC)
    )
    session.commit()
    announce(request)
    return ErasedOut.of(erased)


@router.get("/actions", summary="The log of exports and erasures")
def read_personal_data_actions(session: SessionDep, _user: CurrentUser) -> list[ActionOut]:
    """The newest 200 actions first, with the address as a keyed digest only."""
    actions: list[PersonalDataAction] = privacy.list_actions(session)
    return [ActionOut.model_validate(a) for a in actions]
