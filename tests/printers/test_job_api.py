"""The print-job JSON contract and its refusals (no printer needs to answer for these)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Lab
from tests.printers.jobs import gcode, upload_file


@pytest.fixture
def setup(lab: Lab) -> dict[str, int]:
    """A printer nobody answers for (so nothing starts), a printing station, a file."""
    station = lab.client.post(
        "/api/stations",
        headers=lab.headers(),
        json={"name": "Prusa-Ecke", "kind": "printing", "capacity": 4},
    ).json()["id"]
    gaming = lab.client.post(
        "/api/stations",
        headers=lab.headers(),
        json={"name": "Switch", "kind": "gaming", "capacity": 4},
    ).json()["id"]
    printer = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": "Prusa", "url": "http://127.0.0.1:9", "api_key": "k", "station_id": station},
    ).json()["id"]
    file_id = upload_file(lab.client, lab.headers(), gcode(1), "boat")
    return {"station": station, "gaming": gaming, "printer": printer, "file": file_id}


def test_a_job_is_stored_with_its_history_and_listed_by_state(
    lab: Lab, setup: dict[str, int]
) -> None:
    created = lab.client.post(
        "/api/print-jobs",
        headers=lab.headers(),
        json={
            "file_id": setup["file"],
            "station_id": setup["station"],
            "not_before": "2026-12-03T11:25:00+01:00",
            "priority": 5,
        },
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["state"] == "queued"
    assert job["station_id"] == setup["station"]
    assert job["printer_id"] is None
    assert job["not_before"] == "2026-12-03T10:25:00+00:00"
    assert job["priority"] == 5
    assert [(e["from"], e["to"]) for e in job["history"]] == [(None, "queued")]
    listed = lab.client.get("/api/print-jobs", params={"state": "queued"}, headers=lab.headers())
    assert [j["id"] for j in listed.json()] == [job["id"]]
    assert lab.client.get("/api/print-jobs?state=done", headers=lab.headers()).json() == []
    cancelled = lab.client.post(f"/api/print-jobs/{job['id']}/cancel", headers=lab.headers())
    retried = lab.client.post(f"/api/print-jobs/{job['id']}/retry", headers=lab.headers())
    assert retried.status_code == 200, retried.text
    shown = lab.client.get(f"/api/print-jobs/{job['id']}", headers=lab.headers()).json()
    assert cancelled.json()["state"] == "cancelled"
    assert [e["to"] for e in shown["history"]] == ["queued", "cancelled", "queued"]
    assert shown["history"][2]["reason"] == "retried by staff"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({}, 422, "Give either printer_id or station_id"),
        ({"printer_id": "P", "station_id": "S"}, 422, "Give either printer_id or station_id"),
        ({"printer_id": 999}, 422, "no printer with id 999"),
        ({"station_id": "G"}, 422, "not a 3D-printing station"),
        ({"file_id": 999, "printer_id": "P"}, 422, "no print file with id 999"),
        ({"printer_id": "P", "not_before": "2026-12-03T11:25:00"}, 422, "timezone"),
        ({"printer_id": "P", "priority": 1000}, 422, "less than or equal to 100"),
        (
            {
                "printer_id": "P",
                "not_before": "2026-12-03T11:25:00+01:00",
                "not_after": "2026-12-03T11:00:00+01:00",
            },
            422,
            "not_after must be later than not_before",
        ),
        ({"printer_id": "P", "visit_id": 999}, 422, "no visit with id 999"),
        ({"printer_id": "P", "colour": "magenta"}, 422, "Extra inputs are not permitted"),
    ],
)
def test_bad_jobs_are_refused_and_nothing_is_stored(
    lab: Lab, setup: dict[str, int], body: dict[str, Any], status: int, says: str
) -> None:
    named = {"P": setup["printer"], "S": setup["station"], "G": setup["gaming"]}
    resolved = {k: named.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    resolved.setdefault("file_id", setup["file"])
    response = lab.client.post("/api/print-jobs", headers=lab.headers(), json=resolved)
    assert response.status_code == status, response.text
    assert says in response.text
    assert lab.client.get("/api/print-jobs", headers=lab.headers()).json() == []


def test_refused_job_actions_say_why(lab: Lab, setup: dict[str, int]) -> None:
    job = lab.client.post(
        "/api/print-jobs",
        headers=lab.headers(),
        json={"file_id": setup["file"], "printer_id": setup["printer"]},
    ).json()
    retry = lab.client.post(f"/api/print-jobs/{job['id']}/retry", headers=lab.headers())
    assert retry.status_code == 409
    assert retry.json()["detail"] == (
        f"Only failed, cancelled or unknown jobs can be retried; job {job['id']} is queued."
    )
    assert lab.client.get("/api/print-jobs/999", headers=lab.headers()).status_code == 404
    assert lab.client.get("/api/print-jobs?state=lost", headers=lab.headers()).status_code == 422
    assert (
        lab.client.post("/api/printers/999/bed-cleared", headers=lab.headers()).status_code == 404
    )
    assert lab.client.get("/api/print-jobs").status_code == 401
