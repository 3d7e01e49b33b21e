"""JSON shapes of the outbox API (a public contract: add fields, never rename). A mail's
body is not part of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from librarylab.schemas import OutModel
from mail.model import MailState
from mail.orm import OutboxMail


class MailOut(OutModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    id: int
    message_id: str
    kind: str
    language: str
    to: str = Field(description="The recipient's address.")
    subject: str
    state: MailState
    attempts: int = Field(description="Attempts since it was queued or sent again.")
    last_error: str = Field(description="Why the last attempt failed (SMTP code and reason).")
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, mail: OutboxMail) -> MailOut:
        return cls(
            id=mail.id,
            message_id=mail.message_id,
            kind=mail.kind,
            language=mail.language,
            to=mail.recipient,
            subject=mail.subject,
            state=mail.state,
            attempts=mail.attempts,
            last_error=mail.last_error,
            created_at=mail.created_at,
            next_attempt_at=mail.next_attempt_at,
            sent_at=mail.sent_at,
        )
