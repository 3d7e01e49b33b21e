"""The staff page of personal data, used as a person would (German and English), and the
``librarylab personal-data`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, time
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from booking.orm import PersonalDataAction
from librarylab import database
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab
from tests.pages import error_of, login, submit, text_of
from visits.model import VisitStatus
from visits.orm import Visit

ADA = "ada@stadtbuecherei.example"
PAGE = "/personal-data"


def _ada_visit(lab: Lab) -> int:
    with database.transaction(lab.sessions) as session:
        visit = Visit(
            date=date(2026, 2, 10),
            start=time(10),
            end=time(12),
            library="Stadtbücherei Ratingen",
            town="Ratingen",
            participants=12,
            status=VisitStatus.DONE,
            contact_name="Ada Lovelace",
            contact_email=ADA,
        )
        session.add(visit)
        session.flush()
        return visit.id


def _contact(lab: Lab, visit_id: int) -> tuple[str, str]:
    with lab.sessions() as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None
        return visit.contact_name, visit.contact_email


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("de", ("Personenbezogene Daten", "Als JSON herunterladen", "Protokoll")),
        ("en", ("Personal data", "Download as JSON", "Log")),
    ],
)
def test_the_page_speaks_both_languages_and_its_forms_carry_csrf(
    sqlite_lab: Lab, language: str, words: tuple[str, ...]
) -> None:
    client = sqlite_lab.client
    login(client, "ada", ADMIN_PASSWORD)
    page = client.get(PAGE, params={"lang": language})
    assert page.status_code == 200
    assert f'<html lang="{language}">' in page.text
    for word in words:
        assert word in text_of(page)
    forms = BeautifulSoup(page.text, "html.parser").select("main form")
    assert {f["action"] for f in forms} == {"/personal-data/export", "/personal-data/erase"}
    for form in forms:
        assert form["method"] == "post"
        assert form.select_one("input[name=csrftoken]") is not None
    mail_page = client.get("/mail")
    assert BeautifulSoup(mail_page.text, "html.parser").select_one("a[href='/personal-data']")


def test_a_form_without_its_csrf_token_is_refused(sqlite_lab: Lab) -> None:
    visit_id = _ada_visit(sqlite_lab)
    client = sqlite_lab.client
    login(client, "ada", ADMIN_PASSWORD)
    for action in ("/personal-data/export", "/personal-data/erase"):
        refused = client.post(action, data={"email": ADA, "confirmed": "yes"})
        assert refused.status_code == 403
    assert _contact(sqlite_lab, visit_id) == ("Ada Lovelace", ADA)
    with sqlite_lab.sessions() as session:
        assert session.scalars(select(PersonalDataAction)).all() == []


def test_staff_download_the_export_as_a_file_and_see_it_in_the_log(sqlite_lab: Lab) -> None:
    visit_id = _ada_visit(sqlite_lab)
    client = sqlite_lab.client
    login(client, "sam", STAFF_PASSWORD)
    answer = submit(client, PAGE, "/personal-data/export", {"email": ADA})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="personal-data-')
    assert "ada" not in disposition
    assert answer.headers["cache-control"] == "no-store"
    data = json.loads(answer.text)
    assert [v["id"] for v in data["visits"]] == [visit_id]
    assert data["visits"][0]["library"] == "Stadtbücherei Ratingen"

    rows = BeautifulSoup(client.get(PAGE).text, "html.parser").select("#actions tbody tr")
    assert len(rows) == 1
    cells = [c.get_text(strip=True) for c in rows[0].select("td")]
    assert cells[1:4] == ["Auskunft", "sam", "1"]
    assert "@" not in rows[0].get_text()


def test_a_bad_address_on_the_page_says_what_to_give(sqlite_lab: Lab) -> None:
    client = sqlite_lab.client
    login(client, "ada", ADMIN_PASSWORD)
    for action in ("/personal-data/export", "/personal-data/erase"):
        answer = submit(client, PAGE, action, {"email": "ada at example"})
        assert answer.status_code == 422
        assert error_of(answer) == ("Geben Sie eine Mailadresse an, zum Beispiel name@example.org.")


def test_an_admin_erases_after_confirming(sqlite_lab: Lab) -> None:
    visit_id = _ada_visit(sqlite_lab)
    client = sqlite_lab.client
    login(client, "ada", ADMIN_PASSWORD)
    client.cookies.set("lang", "en")
    asked = submit(client, PAGE, "/personal-data/erase", {"email": ADA.upper()})
    assert asked.status_code == 200
    section = BeautifulSoup(asked.text, "html.parser").select_one("#confirm-erase")
    assert section is not None
    assert f"Erase the data of {ADA}?" in section.get_text()
    assert "Stadtbücherei Ratingen" in section.get_text()
    assert _contact(sqlite_lab, visit_id) == ("Ada Lovelace", ADA)  # nothing erased yet

    form = section.select_one("form")
    assert form is not None
    fields = {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}
    assert fields["email"] == ADA
    assert fields["confirmed"] == "yes"
    done = client.post(str(form["action"]), data=fields, follow_redirects=False)
    assert done.status_code == 303
    assert _contact(sqlite_lab, visit_id) == ("", "")
    shown = client.get(done.headers["location"])
    assert "Erased: 1 records changed." in text_of(shown)


def test_staff_without_the_admin_role_cannot_erase(sqlite_lab: Lab) -> None:
    visit_id = _ada_visit(sqlite_lab)
    client = sqlite_lab.client
    login(client, "sam", STAFF_PASSWORD)
    page = client.get(PAGE)
    assert "Nur Admins können personenbezogene Daten löschen" in text_of(page)
    assert (
        BeautifulSoup(page.text, "html.parser").select("form[action='/personal-data/erase']") == []
    )
    refused = submit(client, PAGE, "/personal-data/erase", {"email": ADA, "confirmed": "yes"})
    assert refused.status_code == 403
    assert _contact(sqlite_lab, visit_id) == ("Ada Lovelace", ADA)


def test_anonymous_visitors_are_sent_to_log_in(sqlite_lab: Lab) -> None:
    answer = sqlite_lab.client.get(PAGE, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


LIBRARYLAB = str(Path(sys.executable).parent / "librarylab")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIBRARYLAB, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_command_exports_and_erases_and_refuses_a_bad_address(
    lab: Lab, tmp_path: Path, database_url: str
) -> None:
    visit_id = _ada_visit(lab)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIBRARYLAB_")}
    env = clean | {
        "LIBRARYLAB_DATA_DIR": str(tmp_path / "cli-data"),
        "LIBRARYLAB_DATABASE_URL": database_url,
    }
    exported = _run(["personal-data", "export", ADA], env)
    assert exported.returncode == 0, exported.stderr
    assert [v["id"] for v in json.loads(exported.stdout)["visits"]] == [visit_id]

    erased = _run(["personal-data", "erase", ADA], env)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.startswith("erased: 1 visit(s), 0 request(s)")
    assert _contact(lab, visit_id) == ("", "")

    bad = _run(["personal-data", "erase", "not-an-address"], env)
    assert bad.returncode == 2
    assert bad.stderr == "error: Give one mail address, such as name@example.org.\n"
    with lab.sessions() as session:
        actions = session.scalars(select(PersonalDataAction).order_by(PersonalDataAction.id))
        assert [(a.action, a.actor, a.records) for a in actions] == [
            ("export", "cli", 1),
            ("erase", "cli", 1),
        ]
