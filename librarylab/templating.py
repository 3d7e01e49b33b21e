"""Jinja2 rendering of staff pages in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from librarylab.i18n import LANGUAGE_COOKIE, Formatter, pick_language, translations
from librarylab.settings import LANGUAGES, Language, Settings

ONE_YEAR = 365 * 24 * 3600


def make_templates(packages: Sequence[str]) -> Jinja2Templates:
    """One environment that finds ``templates/`` in each of ``packages``."""
    env = Environment(
        loader=ChoiceLoader([PackageLoader(package) for package in packages]),
        autoescape=select_autoescape(("html", "xml")),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_null_translations()  # type: ignore[attr-defined]
    return Jinja2Templates(env=env)


def request_language(request: Request) -> Language:
    settings: Settings = request.app.state.settings
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        settings.default_language,
    )


def gettext_for(request: Request) -> Any:
    return translations(request_language(request)).gettext


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` with the helpers every page uses; remember an explicit language."""
    language = request_language(request)
    catalog = translations(language)
    settings: Settings = request.app.state.settings
    templates: Jinja2Templates = request.app.state.templates
    values: dict[str, Any] = {
        "lang": language,
        "languages": LANGUAGES,
        "gettext": catalog.gettext,
        "ngettext": catalog.ngettext,
        "_": catalog.gettext,
        "fmt": Formatter(language),
        "lab_name": settings.lab_name,
        "user": getattr(request.state, "user", None),
        "csrftoken": request.scope["csrftoken"],
    }
    values.update(context or {})
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    if request.query_params.get("lang") == language:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=ONE_YEAR, samesite="lax")
    return response
