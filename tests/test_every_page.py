"""Every page template renders in German and in English with the demo lab's data, and every
translated text with values fills them in whichever language it is shown in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import nodes
from sqlalchemy import select

from booking.correspondence import post_token, renew_post_link
from booking.model import RequestState
from booking.orm import VisitRequest
from librarylab import database
from librarylab.demo import load_demo
from librarylab.deps import PASSWORD_PAGE
from librarylab.i18n import translations
from librarylab.settings import LANGUAGES, Language
from librarylab.templating import make_environment
from scheduler.orm import StoredPlan
from tests.conftest import ADMIN_PASSWORD, Lab
from tests.pages import crawl, login
from visits.orm import Visit

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "librarylab",
    "stations",
    "visits",
    "scheduler",
    "printers",
    "dashboard",
    "stats",
    "booking",
)
# Templates that are only ever part of another page.
PARTS = {"base.html", "macros.html", "scheduler/macros.html"}


def _templates() -> set[str]:
    found = set()
    for package in PACKAGES:
        folder = ROOT / package / "templates"
        found |= {str(p.relative_to(folder)) for p in folder.rglob("*.html")}
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_renders_in_both_languages(sqlite_lab: Lab, language: Language) -> None:
    settings = sqlite_lab.client.app.state.settings  # type: ignore[attr-defined]
    with database.transaction(sqlite_lab.sessions) as session:
        load_demo(session, now=datetime.now(), data_dir=settings.data_dir)
        planned = session.scalar(select(StoredPlan.visit_id))
        waiting = VisitRequest(
            state=RequestState.CONFIRMED, library="Stadtbücherei Hilden", participants=9,
            language="de", consent_at=datetime.now(UTC), created_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(waiting)  # the inbox links its page
        visited = session.get(Visit, planned)
        assert visited is not None
        renew_post_link(visited)  # a library's personal post page, reached from its mail
        post_page = f"/posts/{post_token(visited, settings)}"
    client = sqlite_lab.client
    for name in ("Prusa MK4", "Ultimaker S3"):
        body = {"name": name, "url": "http://127.0.0.1:9", "api_key": "never-shown-key"}
        printer = client.post("/api/printers", json=body, headers=sqlite_lab.headers("admin"))
        assert printer.status_code == 201, printer.text
    login_page = client.get("/login", params={"lang": language})
    assert login_page.status_code == 200
    assert f'<html lang="{language}">' in login_page.text
    assert login(client, "ada", ADMIN_PASSWORD).status_code == 303

    client.cookies.set("lang", language)
    # The public request pages, also those reached only by a form or a link in a mail.
    public = [
        "/request",
        "/request/sent",
        "/request/confirm/not-a-link",
        "/privacy",
        "/invite/not-a-link",
    ]
    pages = crawl(
        client.get,
        ["/visits", f"/visits/{planned}/plan", PASSWORD_PAGE, "/wall", post_page, *public],
        language,
    )

    templates = {path: getattr(page, "template", None) for path, page in pages.items()}
    rendered = {t.name for t in templates.values() if t is not None}
    rendered.add(login_page.template.name)  # type: ignore[attr-defined]
    assert _templates() - PARTS - rendered == set(), templates
    assert len(pages) >= 15, pages
    assert "/audit" in pages  # the admins' audit trail, linked from the menu
    words = {"de": ("Besuche", "Stationen", "3D-Druck"), "en": ("Visits", "Stations")}
    printers = client.get("/printers").text
    for word in words[language]:
        assert word in printers
    assert "never-shown-key" not in printers


def _calls_with_values() -> list[tuple[str, str, set[str]]]:
    """(template, message, names of its values) for each ``_()`` call that passes values."""
    found = []
    env = make_environment(PACKAGES, "en")
    for name in sorted(_templates()):
        source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
        for call in env.parse(source).find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name in ("_", "gettext"):
                first = call.args[0] if call.args else None
                if call.kwargs and isinstance(first, nodes.Const):
                    found.append((name, str(first.value), {kw.key for kw in call.kwargs}))
    return found


def test_templates_pass_values_to_translated_texts() -> None:
    calls = _calls_with_values()
    assert len(calls) >= 3, calls  # the print corner's "… left", "any printer of …", "Group …"
    for language in LANGUAGES:
        env = make_environment(PACKAGES, language)
        for template, message, names in calls:
            values = {name: f"<{name}>" for name in names}
            text = env.from_string("{{ _(message, **values) }}").render(
                message=message, values=values
            )
            for name in names:
                # Filled in and escaped, in the translation too.
                assert f"&lt;{name}&gt;" in text, (language, template, message, text)
            assert translations(language).gettext(message)


def test_a_value_cannot_inject_markup_through_a_translated_text() -> None:
    env = make_environment(PACKAGES, "de")
    html = env.from_string('{{ _("any printer of %(station)s", station=name) }}').render(
        name="<script>x</script>"
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
