"""Reading HTML form fields into typed values, with messages a person can act on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import TypeVar

from starlette.datastructures import FormData

from librarylab.errors import InvalidInput

T = TypeVar("T")


def text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _parsed(form: FormData, name: str, parse: Callable[[str], T], template: str) -> T:
    raw = text(form, name)
    try:
        return parse(raw)
    except ValueError:
        raise InvalidInput(template, name, value=raw) from None


def optional_day(raw: str, name: str) -> date | None:
    """A date typed into a filter (a query parameter); empty means no limit."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("'{value}' is not a date (YYYY-MM-DD).", name, value=raw) from None


def integer(form: FormData, name: str) -> int:
    return _parsed(form, name, int, "'{value}' is not a whole number.")


def checkbox(form: FormData, name: str) -> bool:
    return text(form, name) in ("on", "true", "1", "yes")


def day(form: FormData, name: str) -> date:
    return _parsed(form, name, date.fromisoformat, "'{value}' is not a date (YYYY-MM-DD).")


def clock(form: FormData, name: str) -> time:
    return _parsed(form, name, time.fromisoformat, "'{value}' is not a time of day (HH:MM).")


def optional_clock(form: FormData, name: str) -> time | None:
    return clock(form, name) if text(form, name) else None


def moment(form: FormData, name: str) -> datetime:
    """A local date and time as a browser's datetime-local field sends it."""
    return _parsed(
        form, name, datetime.fromisoformat, "'{value}' is not a date and time (YYYY-MM-DD HH:MM)."
    )
