"""Every text of the pages and messages has a German translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from librarylab.i18n import pick_language, translations

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "InvalidInput": None,
    "NotFound": None,
    "Conflict": None,
    "Unavailable": None,
    "DomainError": None,
    "TooLarge": None,
    "why": None,
    "Problem": (2,),
    "_parsed": (4,),
}
METHODS = [
    ("**/templates/**.html", "jinja2"),
    ("**/templates/mail/**.txt", "jinja2"),  # plain-text mail bodies (see babel.cfg)
    ("**.py", "python"),
]
JINJA = {"extensions": "jinja2.ext.i18n"}


def _extracted() -> set[str]:
    found: set[str] = set()
    for package in (
        "librarylab",
        "stations",
        "visits",
        "scheduler",
        "dashboard",
        "printers",
        "stats",
        "mail",
        "booking",
    ):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package,
            METHODS,
            keywords=KEYWORDS,
            options_map={"**/templates/**.html": JINJA, "**/templates/mail/**.txt": JINJA},
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_is_translated_to_german() -> None:
    with (ROOT / "librarylab/locale/de/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {str(m.id) for m in catalog if m.id and m.string and not m.fuzzy}
    extracted = _extracted()
    missing = sorted(extracted - translated)
    assert missing == [], "run 'make messages' and translate: " + "; ".join(missing)
    stale = sorted(translated - extracted)
    assert stale == [], "no longer found in the code (see KEYWORDS): " + "; ".join(stale)


def test_german_catalog_translates_and_english_is_the_source() -> None:
    assert translations("de").gettext("Stations") == "Stationen"
    assert translations("en").gettext("Stations") == "Stations"


def test_language_choice_prefers_the_query_then_the_cookie_then_the_default() -> None:
    assert pick_language("en", "de", "de") == "en"
    assert pick_language(None, "en", "de") == "en"
    assert pick_language("fr", None, "de") == "de"
    assert pick_language(None, None, "en") == "en"
