"""Reading HTML form fields into typed values, with messages a person can act on."""

from __future__ import annotations

from datetime import date, time

from starlette.datastructures import FormData

from librarylab.errors import InvalidInput


def text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def integer(form: FormData, name: str) -> int:
    raw = text(form, name)
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("'{value}' is not a whole number.", name, value=raw) from None


def checkbox(form: FormData, name: str) -> bool:
    return text(form, name) in ("on", "true", "1", "yes")


def day(form: FormData, name: str) -> date:
    raw = text(form, name)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("'{value}' is not a date (YYYY-MM-DD).", name, value=raw) from None


def clock(form: FormData, name: str) -> time:
    raw = text(form, name)
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("'{value}' is not a time of day (HH:MM).", name, value=raw) from None


def optional_clock(form: FormData, name: str) -> time | None:
    return clock(form, name) if text(form, name) else None
