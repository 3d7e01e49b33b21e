"""The print corner's staff page, used as a person would, against a real OctoPrint."""

from __future__ import annotations

from bs4 import BeautifulSoup

from printers.jobs import JobState
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab
from tests.pages import csrf_token, error_of, login, submit, text_of
from tests.printers.jobs import gcode, job_on, job_reaches, upload_file, wait_for
from tests.services import OctoPrint


def test_staff_run_the_print_corner_from_the_page(sqlite_lab: Lab, octoprint: OctoPrint) -> None:
    client = sqlite_lab.client
    login(client, "ada", ADMIN_PASSWORD)
    added = submit(
        client,
        "/printers",
        "/printers/new",
        {"name": "Prusa", "url": octoprint.url, "api_key": octoprint.api_key, "station_id": ""},
    )
    assert added.status_code == 303, error_of(added)
    refused = submit(
        client,
        "/printers",
        "/printers/new",
        {"name": "Ultimaker", "url": "ftp://x", "api_key": "secret-typed-key", "station_id": ""},
    )
    assert refused.status_code == 422
    assert "Bitte die OctoPrint-Adresse als http(s)://host[:port] angeben" in error_of(refused)
    assert "secret-typed-key" not in refused.text  # a typed key is not sent back either
    client.cookies.clear()
    login(client, "sam", STAFF_PASSWORD)

    without_header = client.post(
        "/printers/files/new",
        data={"csrftoken": csrf_token(client, "/printers"), "name": "Kleines Boot"},
        files={"file": ("boot.gcode", gcode(1), "application/octet-stream")},
    )
    assert without_header.status_code == 403
    # As the page's script sends it: the token in the header.
    uploaded = client.post(
        "/printers/files/new",
        headers={"x-csrftoken": csrf_token(client, "/printers")},
        data={"name": "Kleines Boot"},
        files={"file": ("boot.gcode", gcode(1), "application/octet-stream")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303, error_of(uploaded)
    not_gcode = client.post(
        "/printers/files/new",
        headers={"x-csrftoken": csrf_token(client, "/printers")},
        data={"name": "Foto"},
        files={"file": ("foto.png", b"\x89PNG....", "image/png")},
        follow_redirects=False,
    )
    assert not_gcode.status_code == 422
    assert ".gcode" in error_of(not_gcode)

    page = BeautifulSoup(client.get("/printers").text, "html.parser")
    target = page.select_one("select[name=target] option")
    file_option = page.select_one("select[name=file_id] option")
    assert target is not None
    assert file_option is not None
    queued = submit(
        client,
        "/printers",
        "/printers/jobs/new",
        {"file_id": str(file_option["value"]), "target": str(target["value"]), "not_before": ""},
    )
    assert queued.status_code == 303, error_of(queued)
    shown = text_of(client.get("/printers"))
    assert "Kleines Boot" in shown
    assert "wartet" in shown
    assert octoprint.api_key not in client.get("/printers").text

    printer_id = str(target["value"]).split(":")[1]
    wait_for(lambda: {"page": text_of(client.get("/printers"))}, lambda p: "bereit" in p["page"])
    row = BeautifulSoup(client.get("/printers").text, "html.parser").select_one("tr[data-job]")
    assert row is not None
    cleared = submit(client, "/printers", f"/printers/{printer_id}/bed-cleared", {})
    assert cleared.status_code == 303
    assert job_reaches(sqlite_lab, int(str(row["data-job"])), "awaiting_bed_clear")
    after = text_of(client.get("/printers"))
    assert "Bett räumen" in after
    assert "Bett ist frei" in after
    assert "OctoPrint hat den Druck beendet" in after  # the job's history, in German
    assert "druckt auf Prusa" in after


def test_a_printer_that_cannot_be_deleted_says_why_on_the_page(sqlite_lab: Lab) -> None:
    lab = sqlite_lab
    body = {"name": "Prusa", "url": "http://127.0.0.1:9", "api_key": "k"}
    printer = lab.client.post("/api/printers", json=body, headers=lab.headers("admin")).json()
    demo = upload_file(lab.client, lab.headers(), gcode(1), "boat")
    job = job_on(lab, printer["id"], demo, JobState.UNKNOWN)
    login(lab.client, "ada", ADMIN_PASSWORD)

    refused = submit(lab.client, "/printers", f"/printers/{printer['id']}/delete", {})
    assert refused.status_code == 422
    assert error_of(refused) == (
        f"Auftrag {job} auf diesem Drucker ist unklar und druckt vielleicht noch: bitte am "
        "Drucker nachsehen und den Auftrag abbrechen oder wiederholen, bevor der Drucker "
        "gelöscht wird."
    )
    assert "Prusa" in text_of(refused)  # the page, with the printer still on it
    lab.client.get("/printers?lang=en")
    in_english = submit(lab.client, "/printers", f"/printers/{printer['id']}/delete", {})
    assert error_of(in_english) == (
        f"Job {job} on this printer is unclear and may still be printing: check the printer, "
        "then cancel or retry the job before deleting the printer."
    )
    assert lab.client.get(f"/api/printers/{printer['id']}", headers=lab.headers()).is_success
