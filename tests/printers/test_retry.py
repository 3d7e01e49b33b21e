"""Retrying an unclear job against a real OctoPrint: refused while OctoPrint still prints
that attempt or has finished it, so a lost contact never turns into a second print.

The dispatcher runs alone here (no coordinator), so the job stays `unknown` as it would
after an outage, while the print goes on on the real printer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from librarylab import database
from librarylab.errors import Conflict
from printers import files, queue
from printers.dispatcher import Dispatcher
from printers.jobs import JobState, why
from printers.model import Snapshot, from_octoprint
from printers.octoprint import OctoPrintClient
from tests.printers.jobs import add_ready_printer, gcode
from tests.services import OctoPrint


def test_an_unclear_job_is_not_retried_while_printed_or_after_it_finished(
    sqlite_url: str, octoprint: OctoPrint, tmp_path: Path
) -> None:
    engine = database.make_engine(sqlite_url)
    sessions = database.make_session_factory(engine)
    upload = tmp_path / "boat.gcode"
    upload.write_bytes(gcode(4))
    with database.transaction(sessions) as session:
        demo = files.add_file(session, tmp_path, upload, "boat.gcode")
        printer = add_ready_printer(session, octoprint)
        job_id = queue.create_job(session, {"file_id": demo.id, "printer_id": printer.id}).id
        printer_id = printer.id
    client = OctoPrintClient(octoprint.url, octoprint.api_key)
    dispatcher = Dispatcher(engine, sessions, files.store_dir(tmp_path))
    while not client.status().idle:
        time.sleep(0.1)
    dispatcher.step(
        printer_id, client, from_octoprint(Snapshot(), client.status(), datetime.now(UTC))
    )
    with database.transaction(sessions) as session:  # contact lost, as after an outage
        job = queue.get_job(session, job_id)
        assert job.state is JobState.PRINTING
        queue.move(session, job, JobState.UNKNOWN, why("lost contact with OctoPrint"))

    with pytest.raises(Conflict, match="still printing job"):
        dispatcher.retry(job_id, lambda _printer, errand: errand(client))
    while not client.status().idle:
        time.sleep(0.1)
    assert client.status().completion == 100
    with pytest.raises(Conflict, match="or has finished it"):
        dispatcher.retry(job_id, lambda _printer, errand: errand(client))
    with sessions() as session:
        assert queue.get_job(session, job_id).state is JobState.UNKNOWN
    engine.dispose()
