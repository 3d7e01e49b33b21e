"""Kill the service (SIGKILL) at random moments while it works through a queue on a real
OctoPrint, restart it, repeat: no job is lost and none is printed twice.

OctoPrint's own per-file print counts are the witness; the random moments come from a fixed
seed, so a failure replays.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2

from tests.librarylab.test_cli import LIBRARYLAB, _env, run
from tests.printers.jobs import gcode
from tests.services import OctoPrint, free_port, wait_for_port

JOBS = 6
KILLS = 8
SETTLED = {"done", "awaiting_bed_clear", "failed", "cancelled", "unknown"}


class Service:
    def __init__(self, folder: Path) -> None:
        self.env = _env(folder, f"sqlite:///{folder / 'lab.sqlite3'}") | {
            "LIBRARYLAB_MQTT_ENABLED": "false"
        }
        assert run(["user", "add", "ada", "--role", "admin"], self.env, "chaos-password-1\n")
        self.token = run(["token", "create", "ada"], self.env).stdout.splitlines()[-1]
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [LIBRARYLAB, "serve", "--port", str(port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, timeout=30)
        self.base = f"http://127.0.0.1:{port}"

    def kill(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx2.request(
            method,
            self.base + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
            **kwargs,
        )
        assert answer.status_code < 400, answer.text
        return answer.json()

    def staff_round(self, printer: int) -> None:
        """What staff do at the printer: take a finished print off and confirm the bed."""
        jobs = self.api("GET", "/api/print-jobs")
        for job in jobs:
            if job["state"] == "unknown":  # staff check the printer and let the job go
                httpx2.post(
                    f"{self.base}/api/print-jobs/{job['id']}/cancel",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=10,
                )
        busy = any(j["state"] in ("uploading", "printing") for j in jobs)
        if not busy and not self.api("GET", f"/api/printers/{printer}")["bed_clear"]:
            httpx2.post(
                f"{self.base}/api/printers/{printer}/bed-cleared",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            )  # may race a print that just started: then it is refused, as it should be


def test_killing_the_service_at_random_moments_loses_nothing_and_prints_nothing_twice(
    tmp_path: Path, octoprint: OctoPrint
) -> None:
    service = Service(tmp_path)
    service.start()
    printer = service.api(
        "POST",
        "/api/printers",
        json={"name": "Prusa", "url": octoprint.url, "api_key": octoprint.api_key},
    )["id"]
    file_id = service.api(
        "POST",
        "/api/print-files",
        files={"file": ("boat.gcode", gcode(1.5), "application/octet-stream")},
    )["id"]
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
                service.staff_round(printer)
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
            service.staff_round(printer)
            time.sleep(0.3)
        jobs = {i: service.api("GET", f"/api/print-jobs/{i}") for i in ids}
    finally:
        service.kill()

    assert sorted(jobs) == ids  # nothing lost
    assert {j["state"] for j in jobs.values()} <= SETTLED, {i: j["state"] for i, j in jobs.items()}
    for job in jobs.values():
        sent = [e["to"] for e in job["history"]].count("uploading")
        assert sent <= 1, job  # never started twice (no retries were asked for)
        finished = job["state"] in ("done", "awaiting_bed_clear")
        if job["remote_name"]:
            prints = octoprint.prints_of(job["remote_name"])
            assert prints.get("success", 0) + prints.get("failure", 0) <= 1, job
            if finished:
                assert prints.get("success") == 1, job
        else:
            assert not finished, job
    outcome = sorted(j["state"] for j in jobs.values())
    assert "done" in outcome or "awaiting_bed_clear" in outcome, outcome  # work got done
    assert killed_mid_print >= 2  # the seed does hit prints in progress
