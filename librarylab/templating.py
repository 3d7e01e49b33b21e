"""Jinja2 rendering of staff pages in the reader's language.

Each language has its own environment with its catalog installed as new-style gettext, so
``_("%(n)s left", n=3)`` works in every template (values are filled in and escaped after
translation), and macros see the same ``_`` as the page that calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from librarylab.i18n import LANGUAGE_COOKIE, Formatter, pick_language, translations
from librarylab.settings import LANGUAGES, Language, Settings

ONE_YEAR = 365 * 24 * 3600

Templates = dict[Language, Jinja2Templates]


def make_environment(packages: Sequence[str], language: Language) -> Environment:
    """An environment that finds ``templates/`` in each of ``packages`` and speaks
    ``language``."""
    env = Environment(
        loader=ChoiceLoader([PackageLoader(package) for package in packages]),
        autoescape=select_autoescape(("html", "xml")),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return env


def make_templates(packages: Sequence[str]) -> Templates:
    """One set of templates per language."""
    return {
        language: Jinja2Templates(env=make_environment(packages, language))
        for language in LANGUAGES
    }


def request_language(request: Request) -> Language:
    settings: Settings = request.app.state.settings
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        settings.default_language,
    )


def lab_time(request: Request, value: datetime | None) -> datetime | None:
    """``value`` in the lab's time zone, as pages show times stored in UTC."""
    settings: Settings = request.app.state.settings
    return value.astimezone(ZoneInfo(settings.timezone)) if value else None


def gettext_for(request: Request) -> Any:
    """Plain gettext of the reader's language, for messages built in Python."""
    return translations(request_language(request)).gettext


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` with the helpers every page uses; remember an explicit language."""
    language = request_language(request)
    settings: Settings = request.app.state.settings
    templates: Templates = request.app.state.templates
    values: dict[str, Any] = {
        "lang": language,
        "languages": LANGUAGES,
        "fmt": Formatter(language),
        "lab_name": settings.lab_name,
        "user": getattr(request.state, "user", None),
        "csrftoken": request.scope["csrftoken"],
    }
    values.update(context or {})
    response = templates[language].TemplateResponse(
        request, template, values, status_code=status_code
    )
    if request.query_params.get("lang") == language:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=ONE_YEAR, samesite="lax")
    return response
