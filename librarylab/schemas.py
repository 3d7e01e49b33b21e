"""Building blocks for the JSON API's request and response models."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, ClassVar

from fastapi import Path
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

# Record ids in URLs: positive and within the databases' integer range.
RecordId = Annotated[int, Path(ge=1, le=2_147_483_647)]

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _clock(value: Any) -> time:
    """Only "HH:MM" text (or a plain time): numbers and time zones are refused."""
    if isinstance(value, time) and value.tzinfo is None:
        return value
    found = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if found and int(found[1]) < 24 and int(found[2]) < 60 and int(found[3] or 0) < 60:
        return time(int(found[1]), int(found[2]), int(found[3] or 0))
    raise ValueError('use a time of day as "HH:MM", e.g. "11:30"')


# Times of day travel as "HH:MM".
HHMM = Annotated[
    time,
    BeforeValidator(_clock),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"}
    ),
]


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(value: Any) -> date:
    """Only "YYYY-MM-DD" text (or a plain date): numbers would pass as Unix times."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DAY.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError('not a valid date: use "YYYY-MM-DD", e.g. "2018-02-15"')


# Days travel as "YYYY-MM-DD", in bodies and in query parameters.
Day = Annotated[date, BeforeValidator(_day)]


def _moment_text(value: Any) -> Any:
    """Only ISO 8601 text (or a datetime): numbers would pass as Unix times."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError('use a time with its UTC offset, e.g. "2026-12-03T11:25:00+01:00"')


# A moment sent to the API: ISO 8601 text with its UTC offset.
Moment = Annotated[AwareDatetime, BeforeValidator(_moment_text)]

# Moments travel as ISO 8601 with their UTC offset, as Python writes them
# ("2026-12-03T10:25:00+00:00").
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class OutModel(BaseModel):
    """A response shape, so the OpenAPI document shows what the API answers; without the
    input rules of :class:`StrictModel` (stored text is shown as it is)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


# Control characters other than tab and line breaks (PostgreSQL refuses NUL outright).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class StrictModel(BaseModel):
    """Unknown fields are an error, so a typo never passes silently; text is printable."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        if isinstance(value, str) and _CONTROL.search(value):
            raise ValueError("control characters are not allowed in text")
        return value

    def values(self) -> dict[str, Any]:
        """Field values as Python objects (``model_dump`` would serialise times to text)."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class PatchModel(StrictModel):
    """A partial update: omitted fields stay; ``null`` only where a field may be empty."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None and k not in cls.nullable)
            if nulls:
                raise ValueError(f"these fields cannot be null: {', '.join(nulls)}")
        return data

    def values(self) -> dict[str, Any]:
        """Only the fields the request sent."""
        return {name: getattr(self, name) for name in self.model_fields_set}
