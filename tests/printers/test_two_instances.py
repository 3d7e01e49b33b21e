"""Two service instances on one PostgreSQL: their dispatchers race for the same printer and
queue, and no job is ever started twice (OctoPrint's own print counts are the witness)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from librarylab import database
from printers import files, queue
from printers.dispatcher import Dispatcher
from printers.jobs import JobState
from printers.model import Snapshot, from_octoprint
from printers.octoprint import OctoPrintClient
from printers.orm import JobEvent, PrintJob
from tests.conftest import _emptied_postgres
from tests.printers.jobs import add_ready_printer, gcode
from tests.services import OctoPrint

JOBS = 4


def look(client: OctoPrintClient) -> Snapshot:
    """A fresh snapshot, as a coordinator would take it."""
    return from_octoprint(Snapshot(), client.status(), datetime.now(UTC))


def idle(octoprint: OctoPrint, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while octoprint.api("GET", "/api/job")["state"] != "Operational":
        assert time.monotonic() < deadline, "the print did not end"
        time.sleep(0.1)


@pytest.mark.postgres
def test_two_dispatchers_never_start_a_job_twice(
    postgres_url: str, octoprint: OctoPrint, tmp_path: Path
) -> None:
    url = _emptied_postgres(postgres_url)
    engines = [database.make_engine(url) for _ in range(2)]
    sessions = [database.make_session_factory(engine) for engine in engines]
    upload = tmp_path / "boat.gcode"
    upload.write_bytes(gcode(0.5))
    with database.transaction(sessions[0]) as session:
        demo = files.add_file(session, tmp_path, upload, "boat.gcode")
        printer = add_ready_printer(session, octoprint)
        for _ in range(JOBS):
            queue.create_job(session, {"file_id": demo.id, "printer_id": printer.id})
        printer_id = printer.id
    dispatchers = [
        Dispatcher(engine, factory, files.store_dir(tmp_path))
        for engine, factory in zip(engines, sessions, strict=True)
    ]
    clients = [OctoPrintClient(octoprint.url, octoprint.api_key) for _ in range(2)]
    idle(octoprint)

    def race() -> None:
        """Both instances look at the printer and step at the same moment."""
        snapshots = [look(client) for client in clients]
        barrier = threading.Barrier(2)

        def step(i: int) -> None:
            barrier.wait()
            dispatchers[i].step(printer_id, clients[i], snapshots[i])

        threads = [threading.Thread(target=step, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    for round_ in range(JOBS):
        race()
        with sessions[0]() as session:
            started = session.scalars(
                select(PrintJob).where(PrintJob.state.in_((JobState.PRINTING, JobState.UPLOADING)))
            ).all()
            assert len(started) == 1, f"round {round_}: {len(started)} jobs started"
        idle(octoprint)
        race()  # both see the finished print; it is settled once
        with database.transaction(sessions[1]) as session:
            queue.bed_cleared(session, printer_id, printing=False)

    with sessions[0]() as session:
        jobs = session.scalars(select(PrintJob).order_by(PrintJob.id)).all()
        assert [job.state for job in jobs] == [JobState.DONE] * JOBS
        for job in jobs:
            sent = session.scalars(select(JobEvent.to_state).where(JobEvent.job_id == job.id)).all()
            assert list(sent) == [
                JobState.QUEUED,
                JobState.UPLOADING,
                JobState.PRINTING,
                JobState.FINISHED,
                JobState.AWAITING_BED_CLEAR,
                JobState.DONE,
            ]
            assert job.remote_name is not None
            assert octoprint.prints_of(job.remote_name).get("success") == 1
    for engine in engines:
        engine.dispose()
