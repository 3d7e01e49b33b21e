"""A demo file without a slicer estimate takes OctoPrint's analysis of its upload, which
OctoPrint makes only while it prints nothing: after the file's first print, often a moment
after the print has ended. The dispatcher runs alone here against a real OctoPrint, so the
test says when it looks; "the print has ended" is told to it while OctoPrint still prints
(and so has not analysed the upload yet), as happens when the end is seen before the
analysis is made.

OctoPrint's requests are watched at the adapter's HTTP session (``requests``, the
third-party seam); nothing of the service itself is replaced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.orm import Session, sessionmaker

from librarylab import database
from printers import files, queue
from printers.dispatcher import ESTIMATE_PATIENCE, Dispatcher
from printers.jobs import JobState, why
from printers.model import OPERATIONAL, Snapshot, from_octoprint
from printers.octoprint import OctoPrintClient
from printers.orm import Printer, PrintFile
from tests.printers.jobs import add_ready_printer, gcode
from tests.services import OctoPrint


@dataclass
class Bench:
    sessions: sessionmaker[Session]
    dispatcher: Dispatcher
    client: OctoPrintClient
    printer_id: int
    file_id: int
    clock: list[datetime]  # what the dispatcher's clock says; a test moves it on
    asked: list[str]  # the URLs of OctoPrint's file requests, in order

    def look(self) -> None:
        """One look at the printer, as the coordinator makes it."""
        snapshot = from_octoprint(Snapshot(), self.client.status(), datetime.now(UTC))
        self.dispatcher.step(self.printer_id, self.client, snapshot)

    def seen_finished(self, remote_name: str) -> None:
        """One look that sees the job's print ended (idle at 100 %)."""
        snapshot = Snapshot(OPERATIONAL, file=remote_name, progress=100.0, last_read=self.now)
        self.dispatcher.step(self.printer_id, self.client, snapshot)

    @property
    def now(self) -> datetime:
        return self.clock[0]

    def job(self, job_id: int) -> tuple[JobState, str]:
        with self.sessions() as session:
            job = queue.get_job(session, job_id)
            assert job.remote_name is not None
            return job.state, job.remote_name

    def estimate(self) -> int | None:
        with self.sessions() as session:
            record = session.get(PrintFile, self.file_id)
            assert record is not None
            return record.estimated_seconds


@pytest.fixture
def bench(
    sqlite_url: str, octoprint: OctoPrint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bench]:
    """A printer with its bed clear and a file without a slicer estimate, on an idle OctoPrint."""
    engine = database.make_engine(sqlite_url)
    sessions = database.make_session_factory(engine)
    upload = tmp_path / "boat.gcode"
    upload.write_bytes(gcode(5))
    with database.transaction(sessions) as session:
        demo = files.add_file(session, tmp_path, upload, "boat.gcode")
        assert demo.estimated_seconds is None
        printer = add_ready_printer(session, octoprint)
        ids = printer.id, demo.id
    asked: list[str] = []
    send = requests.Session.request

    def watched(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if method == "GET" and "/api/files/" in url:
            asked.append(url)
        return send(self, method, url, *args, **kw)

    monkeypatch.setattr(requests.Session, "request", watched)
    clock = [datetime.now(UTC)]
    dispatcher = Dispatcher(engine, sessions, files.store_dir(tmp_path), clock=lambda: clock[0])
    client = OctoPrintClient(octoprint.url, octoprint.api_key)
    while not client.status().idle:  # an earlier test's print
        time.sleep(0.1)
    yield Bench(sessions, dispatcher, client, *ids, clock, asked)
    engine.dispose()


def printing(bench: Bench) -> tuple[int, str]:
    """A job of the bench's file that OctoPrint prints: (job id, its file on OctoPrint)."""
    with database.transaction(bench.sessions) as session:
        job_id = queue.create_job(
            session, {"file_id": bench.file_id, "printer_id": bench.printer_id}
        ).id
    bench.look()
    state, remote_name = bench.job(job_id)
    assert state is JobState.PRINTING
    return job_id, remote_name


def still_printing(bench: Bench) -> None:
    """OctoPrint prints, so it has analysed no upload since (the check of the test's premise)."""
    assert not bench.client.status().idle, "the print ended too soon for this test"


def test_an_estimate_octoprint_has_not_made_when_the_print_ends_is_taken_later(
    bench: Bench, octoprint: OctoPrint
) -> None:
    job_id, remote_name = printing(bench)
    bench.seen_finished(remote_name)
    assert bench.job(job_id)[0] is JobState.AWAITING_BED_CLEAR
    bench.seen_finished(remote_name)  # the next idle look
    still_printing(bench)
    # Asked at the end of the print and at the next idle look; no analysis yet.
    assert len(bench.asked) == 2
    assert bench.estimate() is None

    deadline = time.monotonic() + 30
    while bench.estimate() is None and time.monotonic() < deadline:
        bench.look()  # only idle looks ask
        time.sleep(0.5)
    analysed = octoprint.api("GET", f"/api/files/local/{remote_name}")["gcodeAnalysis"]
    assert bench.estimate() == round(analysed["estimatedPrintTime"])

    asked = len(bench.asked)
    bench.look()
    bench.look()
    assert len(bench.asked) == asked  # nothing is missing: OctoPrint is not asked again


def test_an_estimate_is_no_longer_asked_for_once_the_upload_is_gone_or_patience_ran_out(
    bench: Bench, octoprint: OctoPrint
) -> None:
    _job_id, remote_name = printing(bench)
    bench.seen_finished(remote_name)
    still_printing(bench)
    assert len(bench.asked) == 1
    # A job of the same file whose upload OctoPrint no longer has (claimed, never sent).
    with database.transaction(bench.sessions) as session:
        gone = queue.create_job(session, {"file_id": bench.file_id, "printer_id": bench.printer_id})
        printer = session.get(Printer, bench.printer_id)
        assert printer is not None
        printer.bed_clear = True
        assert queue.claim_next(session, printer) is gone
        queue.move(session, gone, JobState.PRINTING, why("as the test needs it"))
        gone_id = gone.id
    _state, gone_name = bench.job(gone_id)
    bench.seen_finished(gone_name)
    still_printing(bench)
    assert bench.job(gone_id)[0] is JobState.AWAITING_BED_CLEAR
    assert bench.asked[1:] == [
        f"{octoprint.url}/api/files/local/{remote_name}",
        f"{octoprint.url}/api/files/local/{gone_name}",  # 404: not asked again
    ]

    bench.clock[0] += ESTIMATE_PATIENCE
    bench.seen_finished(remote_name)
    assert len(bench.asked) == 3  # the first file's time is up too

    deadline = time.monotonic() + 30
    while "gcodeAnalysis" not in octoprint.api("GET", f"/api/files/local/{remote_name}"):
        assert time.monotonic() < deadline, "OctoPrint never analysed the upload"
        time.sleep(0.5)
    bench.look()
    assert len(bench.asked) == 3
    assert bench.estimate() is None  # given up; the file's next print asks again
