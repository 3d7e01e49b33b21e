"""The printer registry and each printer's live state, against a real OctoPrint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from librarylab.app import create_app
from printers.jobs import JobState
from printers.orm import Printer
from tests.conftest import Lab, admin_headers, make_settings
from tests.mqtt import Recorder, embedded_url
from tests.printers.jobs import gcode, job_on, upload_file
from tests.services import OctoPrint, free_port, hung_server


def printing_station(lab: Lab) -> int:
    created = lab.client.post(
        "/api/stations",
        headers=lab.headers(),
        json={"name": "Prusa", "kind": "printing", "capacity": 4},
    )
    return int(created.json()["id"])


def state_of(
    client: TestClient,
    headers: dict[str, str],
    printer_id: int,
    wanted: str,
    timeout: float = 15,
    also: str | None = None,
) -> dict[str, Any]:
    """The printer once its state is ``wanted`` (and field ``also`` is set), or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        printer: dict[str, Any] = client.get(f"/api/printers/{printer_id}", headers=headers).json()
        state = printer["state"]
        if state["state"] == wanted and (also is None or state.get(also) is not None):
            return printer
        if time.monotonic() > deadline:
            return printer
        time.sleep(0.2)


def test_a_registered_printer_shows_its_live_state_and_never_its_key(
    lab: Lab, octoprint: OctoPrint
) -> None:
    station = printing_station(lab)
    body = {
        "name": "Prusa i3",
        "url": octoprint.url + "/",
        "api_key": octoprint.api_key,
        "station_id": station,
    }
    created = lab.client.post("/api/printers", json=body, headers=lab.headers("admin"))
    assert created.status_code == 201, created.text
    printer = created.json()
    assert set(printer) == {"id", "name", "url", "station_id", "bed_clear", "state"}
    assert printer["url"] == octoprint.url
    live = state_of(lab.client, lab.headers(), printer["id"], "operational", also="nozzle")
    assert live["state"]["state"] == "operational"
    assert live["state"]["nozzle"][0] is not None
    assert live["state"]["last_read"] is not None
    for path in ("/api/printers", f"/api/printers/{printer['id']}", "/api/health"):
        assert octoprint.api_key not in lab.client.get(path, headers=lab.headers()).text
    with lab.sessions() as session:
        sealed = session.scalars(select(Printer.api_key_sealed)).one()
    assert octoprint.api_key not in sealed


def test_a_wrong_api_key_is_said_plainly(lab: Lab, octoprint: OctoPrint) -> None:
    created = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": "Ultimaker", "url": octoprint.url, "api_key": "not-the-key"},
    ).json()
    printer = state_of(lab.client, lab.headers(), created["id"], "unauthorized")
    assert printer["state"]["state"] == "unauthorized"
    assert printer["state"]["detail"] == "OctoPrint refused the API key"
    health = lab.client.get("/api/health").json()
    # The print corner cannot use it: the service is degraded, and says which printer and why.
    assert health["status"] == "degraded"
    assert health["problems"] == [
        {
            "component": f"printer {created['id']}",
            "detail": "Ultimaker: unauthorized (OctoPrint refused the API key)",
        }
    ]
    assert health["printers"] == [
        {
            "id": created["id"],
            "name": "Ultimaker",
            "state": "unauthorized",
            "detail": "OctoPrint refused the API key",
        }
    ]
    fixed = lab.client.patch(
        f"/api/printers/{created['id']}",
        headers=lab.headers("admin"),
        json={"api_key": octoprint.api_key},
    )
    assert fixed.status_code == 200
    assert (
        state_of(lab.client, lab.headers(), created["id"], "operational")["state"]["state"]
        == "operational"
    )


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"url": "ftp://printer"}, 422, "http(s)://host[:port]"),
        ({"url": "http://printer:5000/octoprint"}, 422, "http(s)://host[:port]"),
        ({"api_key": ""}, 422, "at least 1 character"),
        ({"station_id": 999}, 422, "not a 3D-printing station"),
        ({"name": "prusa"}, 409, "already exists"),
    ],
)
def test_bad_printers_are_refused(lab: Lab, body: dict[str, Any], status: int, says: str) -> None:
    valid = {"name": "Prusa", "url": "http://127.0.0.1:9", "api_key": "k"}
    assert (
        lab.client.post("/api/printers", json=valid, headers=lab.headers("admin")).status_code
        == 201
    )
    response = lab.client.post(
        "/api/printers", json={**valid, "name": "Other", **body}, headers=lab.headers("admin")
    )
    assert response.status_code == status, response.text
    assert says in response.text
    assert len(lab.client.get("/api/printers", headers=lab.headers()).json()) == 1


def test_only_admins_register_printers(lab: Lab) -> None:
    body = {"name": "Prusa", "url": "http://127.0.0.1:9", "api_key": "k"}
    assert (
        lab.client.post("/api/printers", json=body, headers=lab.headers("staff")).status_code == 403
    )
    assert lab.client.get("/api/printers").status_code == 401


def test_a_hung_octoprint_turns_offline_within_the_limit(tmp_path: Path, sqlite_url: str) -> None:
    """A fake on purpose: a server that accepts and never answers (OctoPrint cannot do that)."""
    settings = make_settings(
        tmp_path, sqlite_url, printer_offline_after_seconds=1.0, printer_timeout_seconds=0.5
    )
    app = create_app(settings)
    with hung_server() as url, TestClient(app) as client:
        headers = admin_headers(app)
        created = client.post(
            "/api/printers", headers=headers, json={"name": "Hung", "url": url, "api_key": "k"}
        ).json()
        started = time.monotonic()
        printer = state_of(client, headers, created["id"], "offline", timeout=10)
        assert printer["state"]["state"] == "offline"
        assert "does not answer" in printer["state"]["detail"]
        assert time.monotonic() - started < 5


def test_printer_states_go_to_the_wall_without_address_or_key(
    tmp_path: Path, sqlite_url: str, octoprint: OctoPrint
) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path, sqlite_url, mqtt_enabled=True, mqtt_embedded_port=port, mqtt_prefix="p1"
    )
    app = create_app(settings)
    with TestClient(app) as client:
        headers = admin_headers(app)
        listener = Recorder(embedded_url(settings.data_dir, port), "p1/printers/#")
        try:
            created = client.post(
                "/api/printers",
                headers=headers,
                json={"name": "Prusa", "url": octoprint.url, "api_key": octoprint.api_key},
            ).json()
            topic = f"p1/printers/{created['id']}/state"
            payload = listener.wait_for(topic, lambda p: p["state"] == "operational", timeout=15)
            assert payload is not None
            assert payload["name"] == "Prusa"
            raw = str(listener.messages)
            assert octoprint.api_key not in raw
            assert octoprint.url not in raw
        finally:
            listener.close()


def register(lab: Lab, name: str, station_id: int | None = None) -> int:
    """A printer at an address where nothing answers: it never prints, its jobs stay put."""
    body = {"name": name, "url": "http://127.0.0.1:9", "api_key": "k", "station_id": station_id}
    created = lab.client.post("/api/printers", json=body, headers=lab.headers("admin"))
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (JobState.UPLOADING, "busy with job {job}; cancel the job first"),
        (JobState.AWAITING_BED_CLEAR, "confirm the bed clear first"),
        (JobState.UNKNOWN, "Job {job} on this printer is unclear"),
    ],
)
def test_a_printer_is_not_deleted_while_a_job_may_be_on_it(
    lab: Lab, state: JobState, says: str
) -> None:
    printer = register(lab, "Prusa")
    job = job_on(lab, printer, upload_file(lab.client, lab.headers(), gcode(1), "boat"), state)
    refused = lab.client.delete(f"/api/printers/{printer}", headers=lab.headers("admin"))
    assert refused.status_code == 409, refused.text
    assert says.format(job=job) in refused.json()["detail"]
    assert lab.client.get(f"/api/printers/{printer}", headers=lab.headers()).status_code == 200
    kept = lab.client.get(f"/api/print-jobs/{job}", headers=lab.headers()).json()
    assert (kept["state"], kept["assigned_printer_id"]) == (state, printer)


def test_deleting_a_printer_or_station_cancels_the_jobs_waiting_for_it(lab: Lab) -> None:
    station = printing_station(lab)
    on_station = register(lab, "Prusa", station)
    alone = register(lab, "Ultimaker")
    demo = upload_file(lab.client, lab.headers(), gcode(1), "boat")
    settled = job_on(lab, alone, demo, JobState.CANCELLED)  # a finished story: no obstacle

    def queue_for(**target: int) -> int:
        created = lab.client.post(
            "/api/print-jobs", headers=lab.headers(), json={"file_id": demo, **target}
        )
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    def job(job_id: int) -> dict[str, Any]:
        found: dict[str, Any] = lab.client.get(
            f"/api/print-jobs/{job_id}", headers=lab.headers()
        ).json()
        return found

    for_printer = queue_for(printer_id=alone)
    for_station = queue_for(station_id=station)
    for_other = queue_for(printer_id=on_station)
    gone = lab.client.delete(f"/api/printers/{alone}", headers=lab.headers("admin"))
    assert gone.status_code == 204, gone.text
    assert (job(for_printer)["state"], job(for_printer)["reason"]) == (
        "cancelled",
        "its printer was deleted",
    )
    assert job(settled)["state"] == "cancelled"
    # A job without a printer or station could never print again.
    for orphan in (for_printer, settled):
        retry = lab.client.post(f"/api/print-jobs/{orphan}/retry", headers=lab.headers())
        assert retry.status_code == 409
        assert "no printer or station" in retry.json()["detail"]

    gone = lab.client.delete(f"/api/stations/{station}", headers=lab.headers("admin"))
    assert gone.status_code == 204, gone.text
    assert (job(for_station)["state"], job(for_station)["reason"]) == (
        "cancelled",
        "its station was deleted",
    )
    # The station's printer stays registered, without a station; its own jobs still wait.
    kept = lab.client.get(f"/api/printers/{on_station}", headers=lab.headers()).json()
    assert kept["station_id"] is None
    assert job(for_other)["state"] == "queued"
