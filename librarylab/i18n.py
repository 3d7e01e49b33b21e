"""Message catalogs and locale-aware formatting for the staff pages.

Catalogs live as ``.po`` files in ``librarylab/locale`` and are compiled in memory at
start-up, so there is no build step. Source strings are English; German is the default.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import cache
from importlib import resources

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from librarylab.settings import LANGUAGES, Language

LANGUAGE_COOKIE = "lang"


@cache
def translations(language: Language) -> NullTranslations:
    """The compiled catalog of ``language`` (English is the source language)."""
    if language == "en":
        return NullTranslations()
    po_file = resources.files("librarylab") / "locale" / language / "LC_MESSAGES" / "messages.po"
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def pick_language(query: str | None, cookie: str | None, default: Language) -> Language:
    """An explicit ``?lang=`` wins, then the remembered choice, then the lab's default."""
    for candidate in (query, cookie):
        for language in LANGUAGES:
            if candidate == language:
                return language
    return default


class Formatter:
    """Dates and times written the way the reader's language writes them."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def date(self, value: dt.date | None, style: str = "medium") -> str:
        return "" if value is None else format_date(value, style, locale=self.language)

    def weekday_date(self, value: dt.date) -> str:
        return format_date(value, "full", locale=self.language)

    def month(self, value: dt.date) -> str:
        return format_date(value, "LLLL y", locale=self.language)

    def time(self, value: dt.time | None) -> str:
        return "" if value is None else format_time(value, "HH:mm", locale=self.language)
