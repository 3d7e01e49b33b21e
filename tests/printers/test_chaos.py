"""Kill the service (SIGKILL) at random moments while it works through a queue on a real
OctoPrint, restart it, repeat: no job is lost and none is printed twice.

OctoPrint's own per-file print counts are the witness, over every file the service ever
uploaded there (the test has an OctoPrint of its own): a job sent back to the queue before it
was started is sent again under a new name. A job killed between its claim and its upload has
no file on OctoPrint at all: it was printed 0 times. The random moments come from a fixed
seed, so a failure replays.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

from tests.printers.jobs import gcode
from tests.served import Served
from tests.services import OctoPrint

JOBS = 6
KILLS = 8
SETTLED = {"done", "awaiting_bed_clear", "failed", "cancelled", "unknown"}
UPLOAD = re.compile(r"librarylab-job-(\d+)-[0-9a-f]+\.gcode")


def uploads(octoprint: OctoPrint) -> dict[int, dict[str, dict[str, Any]]]:
    """Every file of a job on OctoPrint, by job id: {file name: OctoPrint's print counts}."""
    found: dict[int, dict[str, dict[str, Any]]] = {}
    for entry in octoprint.api("GET", "/api/files/local")["files"]:
        if named := UPLOAD.fullmatch(entry["name"]):
            found.setdefault(int(named[1]), {})[entry["name"]] = entry.get("prints") or {}
    return found


def staff_round(service: Served, printer: int) -> None:
    """What staff do at the printer: settle unclear jobs, take a finished print off, confirm
    the bed (a confirmation racing a print that just started is refused, as it should be)."""
    jobs = service.api("GET", "/api/print-jobs")
    for job in jobs:
        if job["state"] == "unknown":
            service.post(f"/api/print-jobs/{job['id']}/cancel")
    busy = any(j["state"] in ("uploading", "printing") for j in jobs)
    if not busy and not service.api("GET", f"/api/printers/{printer}")["bed_clear"]:
        service.post(f"/api/printers/{printer}/bed-cleared")


def test_killing_the_service_at_random_moments_loses_nothing_and_prints_nothing_twice(
    tmp_path: Path, own_octoprint: OctoPrint
) -> None:
    octoprint = own_octoprint
    service = Served(tmp_path, mqtt_enabled="false")
    service.start()
    printer = service.add_printer(octoprint)
    file_id = service.add_file(gcode(1.5))
    ids = [
        service.api("POST", "/api/print-jobs", json={"file_id": file_id, "printer_id": printer})[
            "id"
        ]
        for _ in range(JOBS)
    ]
    moments = random.Random(2026)
    killed_mid_print = 0
    try:
        for _ in range(KILLS):
            deadline = time.monotonic() + moments.uniform(0.5, 4.0)
            while time.monotonic() < deadline:
                staff_round(service, printer)
                time.sleep(0.2)
            states = {j["state"] for j in service.api("GET", "/api/print-jobs")}
            killed_mid_print += "printing" in states
            service.kill()
            service.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            jobs = {j["id"]: j for j in service.api("GET", "/api/print-jobs")}
            if all(jobs[i]["state"] in SETTLED for i in ids):
                break
            staff_round(service, printer)
            time.sleep(0.3)
        jobs = {i: service.api("GET", f"/api/print-jobs/{i}") for i in ids}
    finally:
        service.kill()

    assert sorted(jobs) == ids  # nothing lost
    assert {j["state"] for j in jobs.values()} <= SETTLED, {i: j["state"] for i, j in jobs.items()}
    sent_files = uploads(octoprint)
    for job in jobs.values():
        history = [e["to"] for e in job["history"]]
        # Sent again (no retries were asked for) only after being sent back to the queue,
        # which happens only when nothing was started.
        sends = [at for at, state in enumerate(history) if state == "uploading"]
        assert all(history[at + 1] == "queued" for at in sends[:-1]), job
        printed = sent_files.get(job["id"], {})
        times = sum(p.get("success", 0) + p.get("failure", 0) for p in printed.values())
        assert times <= 1, (job, printed)  # never printed twice, over all its attempts
        finished = job["state"] in ("done", "awaiting_bed_clear")
        if not job["remote_name"]:  # never claimed
            assert not sends, job
            assert not printed, job
            assert not finished, job
        elif job["remote_name"] not in printed:  # claimed, never uploaded: never printed
            assert octoprint.prints_of(job["remote_name"]) == {}, job
            assert "printing" not in history, job
            assert not finished, job
        elif finished:
            assert octoprint.prints_of(job["remote_name"]).get("success") == 1, job
    outcome = sorted(j["state"] for j in jobs.values())
    assert "done" in outcome or "awaiting_bed_clear" in outcome, outcome  # work got done
    assert killed_mid_print >= 2  # the seed does hit prints in progress
