"""Pure vocabulary and limits of visit requests and the mail around a visit: no I/O."""

from __future__ import annotations

import enum
from datetime import timedelta

from visits.model import MAX_PARTICIPANTS


class RequestState(enum.StrEnum):
    """Where a request stands (a public contract: the API names these)."""

    NEW = "new"  # submitted, the contact has not clicked the opt-in link yet
    CONFIRMED = "confirmed"  # confirmed by mail: staff see it in the inbox
    ACCEPTED = "accepted"  # turned into a confirmed visit
    DECLINED = "declined"
    EXPIRED = "expired"  # never confirmed within OPT_IN_VALID


class Channel(enum.StrEnum):
    """Where a library promises to write about its visit under #librarylab."""

    BLOG = "blog"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    OTHER = "other"


class MailKind(enum.StrEnum):
    """The mails of the visit programme; each names its templates ``mail/<kind>.*``."""

    OPT_IN = "request_opt_in"
    RECEIVED = "request_received"
    ACCEPTED = "request_accepted"
    DECLINED = "request_declined"
    REMINDER = "visit_reminder"
    CHANGED = "visit_changed"
    CANCELLED = "visit_cancelled"
    FOLLOW_UP = "visit_follow_up"
    FOLLOW_UP_REMINDER = "visit_follow_up_reminder"


OPT_IN_VALID = timedelta(hours=48)
FOLLOW_UP_REMINDER_AFTER = timedelta(days=14)

# Field limits of a request; the form and the JSON twin refuse longer input.
MAX_LENGTHS = {
    "library": 200,
    "town": 120,
    "contact_name": 200,
    "contact_email": 320,
    "topic": 300,  # each topic wish
    "wishes": 2000,
    "decline_message": 2000,
}
MAX_TOPICS = 5
MAX_REQUEST_PARTICIPANTS = MAX_PARTICIPANTS
