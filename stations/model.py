"""Pure station vocabulary and rules: no I/O, no framework."""

from __future__ import annotations

import enum

from librarylab.errors import Problem


class Kind(enum.StrEnum):
    """What a group does at a station; every group should meet every kind."""

    VR = "vr"
    GAMING = "gaming"
    PRINTING = "printing"


class Status(enum.StrEnum):
    AVAILABLE = "available"
    OUT_OF_SERVICE = "out_of_service"


MAX_CAPACITY = 100
MAX_NAME_LENGTH = 80
MAX_REASON_LENGTH = 200
MAX_NOTES_LENGTH = 4000  # a page of text: enough for directions and quirks, not a file store


def station_problems(
    *,
    name: str,
    capacity: int,
    status: Status,
    status_reason: str,
    notes: str = "",
    max_group: int | None = None,
) -> list[Problem]:
    """The rules a station breaks; empty when it is valid."""
    problems: list[Problem] = []
    if not name.strip():
        problems.append(Problem("name", "The station needs a name."))
    elif len(name) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                "name", "The name is longer than {limit} characters.", {"limit": MAX_NAME_LENGTH}
            )
        )
    if not 1 <= capacity <= MAX_CAPACITY:
        problems.append(
            Problem(
                "capacity",
                "Capacity must be between 1 and {limit} people.",
                {"limit": MAX_CAPACITY},
            )
        )
    if max_group is not None and not capacity <= max_group <= MAX_CAPACITY:
        problems.append(
            Problem(
                "max_group",
                "max_group (people at the station together, taking turns) must be between the "
                "capacity ({capacity}) and {limit}; leave it empty when nobody takes turns.",
                {"capacity": capacity, "limit": MAX_CAPACITY},
            )
        )
    if len(status_reason) > MAX_REASON_LENGTH:
        problems.append(
            Problem(
                "status_reason",
                "This text is longer than {limit} characters.",
                {"limit": MAX_REASON_LENGTH},
            )
        )
    if len(notes) > MAX_NOTES_LENGTH:
        problems.append(
            Problem(
                "notes",
                "This text is longer than {limit} characters.",
                {"limit": MAX_NOTES_LENGTH},
            )
        )
    if status is Status.OUT_OF_SERVICE and not status_reason.strip():
        problems.append(
            Problem(
                "status_reason",
                "Say why the station is out of service (e.g. 'headset cable broken').",
            )
        )
    return problems
