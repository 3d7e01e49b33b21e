"""Helpers for print-job tests: a lab with a printer, demo files, waiting for states."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from librarylab import database
from librarylab.crypto import SecretBox
from printers import queue
from printers.jobs import JobState, why
from printers.orm import Printer
from tests.conftest import TEST_SECRET, Lab
from tests.services import OctoPrint

# The transitions that bring a job sent to a printer to each state, after the claim.
_WALK = {
    JobState.UPLOADING: (),
    JobState.PRINTING: (JobState.PRINTING,),
    JobState.AWAITING_BED_CLEAR: (
        JobState.PRINTING,
        JobState.FINISHED,
        JobState.AWAITING_BED_CLEAR,
    ),
    JobState.UNKNOWN: (JobState.PRINTING, JobState.UNKNOWN),
    JobState.CANCELLED: (JobState.CANCELLED,),
}


def gcode(seconds: float, *, label: str = "demo") -> bytes:
    """A demo file that prints for about ``seconds`` on the Virtual Printer (dwells run in
    real time) and moves the head a little, so OctoPrint reports progress."""
    lines = [f"; {label}", "G28", "G90", "M82", "G92 E0"]
    steps = max(1, round(seconds / 0.25))
    for step in range(steps):
        lines.append(f"G1 X{10 + step % 50} Y{10 + step % 40} E{step * 0.1:.1f} F6000")
        lines.append("G4 P250")
    lines.append("M104 S0")
    return ("\n".join(lines) + "\n").encode()


def upload_file(client: TestClient, headers: dict[str, str], content: bytes, name: str) -> int:
    response = client.post(
        "/api/print-files",
        headers=headers,
        data={"name": name},
        files={"file": (f"{name}.gcode", content, "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def add_printer(lab: Lab, octoprint: OctoPrint, name: str = "Prusa", **extra: Any) -> int:
    created = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": name, "url": octoprint.url, "api_key": octoprint.api_key, **extra},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def job_on(lab: Lab, printer_id: int, file_id: int, state: JobState) -> int:
    """A job the printer claimed and that got to ``state``, written straight to the
    database (as the dispatcher would have), for rules that need no printing."""
    with database.transaction(lab.sessions) as session:
        job = queue.create_job(session, {"file_id": file_id, "printer_id": printer_id})
        printer = session.get(Printer, printer_id)
        assert printer is not None
        printer.bed_clear = True
        assert queue.claim_next(session, printer) is job
        for step in _WALK[state]:
            queue.move(session, job, step, why("as the test needs it"))
        return job.id


def wait_for(
    read: Callable[[], dict[str, Any]],
    ready: Callable[[dict[str, Any]], bool],
    timeout: float = 30,
) -> dict[str, Any]:
    """The first answer of ``read`` that is ``ready``; the last one at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read()
        if ready(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def job_reaches(lab: Lab, job_id: int, state: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(
        lambda: lab.client.get(f"/api/print-jobs/{job_id}", headers=lab.headers()).json(),
        lambda job: job["state"] == state,
        timeout,
    )


def printer_reaches(lab: Lab, printer_id: int, state: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(
        lambda: lab.client.get(f"/api/printers/{printer_id}", headers=lab.headers()).json(),
        lambda printer: printer["state"]["state"] == state,
        timeout,
    )


def states(job: dict[str, Any]) -> list[str]:
    return [event["to"] for event in job["history"]]


def queue_job(lab: Lab, file_id: int, printer_id: int, **extra: object) -> int:
    created = lab.client.post(
        "/api/print-jobs",
        headers=lab.headers(),
        json={"file_id": file_id, "printer_id": printer_id, **extra},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def ready_printer(lab: Lab, octoprint: OctoPrint) -> int:
    printer = add_printer(lab, octoprint)
    assert printer_reaches(lab, printer, "operational")["state"]["state"] == "operational"
    assert lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers()).is_success
    return printer


def printing(lab: Lab, octoprint: OctoPrint, content: bytes) -> tuple[int, int]:
    """A ready printer printing a job of ``content``: (printer id, job id)."""
    printer = ready_printer(lab, octoprint)
    job = queue_job(lab, upload_file(lab.client, lab.headers(), content, "demo"), printer)
    assert job_reaches(lab, job, "printing")["state"] == "printing"
    return printer, job


def add_ready_printer(session: Session, octoprint: OctoPrint) -> Printer:
    """``octoprint`` registered as printer "Prusa" straight in the database, its bed clear."""
    printer = Printer(
        name="Prusa",
        url=octoprint.url,
        api_key_sealed=SecretBox(TEST_SECRET).seal(octoprint.api_key),
        bed_clear=True,
    )
    session.add(printer)
    session.flush()
    return printer
