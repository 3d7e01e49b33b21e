"""Print jobs through the service to a real OctoPrint: printed, gated by the bed, cancelled."""

from __future__ import annotations

from tests.conftest import Lab
from tests.printers.jobs import (
    add_printer,
    gcode,
    job_reaches,
    printer_reaches,
    states,
    upload_file,
    wait_for,
)
from tests.services import OctoPrint


def test_a_job_prints_to_the_end_and_waits_for_the_bed(lab: Lab, octoprint: OctoPrint) -> None:
    printer = add_printer(lab, octoprint)
    printer_reaches(lab, printer, "operational")
    boat = upload_file(lab.client, lab.headers(), gcode(1.5), "boat")
    before = lab.client.get("/api/print-files", headers=lab.headers()).json()
    assert before[0]["estimated_seconds"] is None
    created = lab.client.post(
        "/api/print-jobs", headers=lab.headers(), json={"file_id": boat, "printer_id": printer}
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["state"] == "queued"
    # A new printer's bed is not confirmed clear: nothing starts.
    assert job_reaches(lab, job["id"], "uploading", timeout=4)["state"] == "queued"
    cleared = lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers())
    assert cleared.status_code == 200, cleared.text
    done = job_reaches(lab, job["id"], "awaiting_bed_clear")
    assert states(done) == [
        "queued",
        "uploading",
        "printing",
        "finished",
        "awaiting_bed_clear",
    ], done
    assert (
        lab.client.get(f"/api/printers/{printer}", headers=lab.headers()).json()["bed_clear"]
        is False
    )
    # The file had no slicer estimate: OctoPrint's analysis of the upload fills it in. OctoPrint
    # analyses it only once it prints nothing, so after this print, on one of the next looks.
    learned = wait_for(
        lambda: lab.client.get("/api/print-files", headers=lab.headers()).json()[0],
        lambda listed: listed["estimated_seconds"] is not None,
    )
    analysed = octoprint.api("GET", f"/api/files/local/{done['remote_name']}")["gcodeAnalysis"]
    assert learned["estimated_seconds"] == round(analysed["estimatedPrintTime"])
    lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers())
    assert job_reaches(lab, job["id"], "done")["state"] == "done"
