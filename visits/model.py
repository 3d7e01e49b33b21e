"""Pure visit vocabulary and rules: no I/O, no framework."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import time

from librarylab.errors import Problem


class VisitStatus(enum.StrEnum):
    FREE = "free"  # a date offered to libraries, not yet taken
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    DONE = "done"
    CANCELLED = "cancelled"


class PostKind(enum.StrEnum):
    """Where visitors write about their visit under #librarylab."""

    BLOG = "blog"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    OTHER = "other"


# The future topics visitors usually choose; free text is allowed too.
TOPIC_SUGGESTIONS: tuple[str, ...] = (
    "Bibliothek als Ort",
    "Zukunft von Bestand und Ausleihen",
    "Wie binden wir die Kundinnen und Kunden ein",
    "Wie sieht der FutureLibrarian aus?",
    "Was wollt Ihr mit der Bibliothek bei Social Media",
    "Gaming in der Bibliothek",
)

MAX_PARTICIPANTS = 200
MAX_STAFF = 50  # staff on duty at one visit
MAX_STAFF_NAME_LENGTH = 80
MAX_NOTES_LENGTH = 4000  # a page of text: enough for a visit's arrangements


@dataclass(frozen=True)
class Post:
    """A promised or published post; it is outstanding until published."""

    kind: PostKind
    url: str
    published: bool


def is_post_outstanding(posts: list[Post]) -> bool:
    return any(not post.published for post in posts)


def visit_problems(
    *,
    status: VisitStatus,
    library: str,
    start: time,
    end: time,
    hands_on_start: time | None,
    hands_on_end: time | None,
    participants: int,
    posts: list[Post],
) -> list[Problem]:
    """The rules a visit breaks; empty when it is valid."""
    problems: list[Problem] = []
    if end <= start:
        problems.append(Problem("end", "The visit must end after it starts."))
    if (hands_on_start is None) != (hands_on_end is None):
        problems.append(
            Problem("hands_on_end", "Give both start and end of the hands-on block, or neither.")
        )
    elif hands_on_start is not None and hands_on_end is not None:
        if hands_on_end <= hands_on_start:
            problems.append(Problem("hands_on_end", "The hands-on block must end after it starts."))
        elif end > start and (hands_on_start < start or hands_on_end > end):
            problems.append(
                Problem(
                    "hands_on_start",
                    "The hands-on block ({block}) must lie within the visit ({visit}).",
                    {
                        "block": f"{hands_on_start:%H:%M}–{hands_on_end:%H:%M}",
                        "visit": f"{start:%H:%M}–{end:%H:%M}",
                    },
                )
            )
    if not 0 <= participants <= MAX_PARTICIPANTS:
        problems.append(
            Problem(
                "participants",
                "Participants must be between 0 and {limit}.",
                {"limit": MAX_PARTICIPANTS},
            )
        )
    booked = status in (VisitStatus.REQUESTED, VisitStatus.CONFIRMED, VisitStatus.DONE)
    if booked and not library.strip():
        problems.append(Problem("library", "Name the visiting library, or mark the date as free."))
    if booked and participants == 0:
        problems.append(Problem("participants", "A booked visit needs at least one participant."))
    for post in posts:
        if post.url and not post.url.startswith(("https://", "http://")):
            problems.append(Problem("posts", "A post link must start with https:// or http://."))
    return problems
