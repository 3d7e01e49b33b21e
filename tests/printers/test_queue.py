"""Queue rules that need no printer: which job a free printer takes next, and which never."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from librarylab import database
from librarylab.errors import InvalidInput
from printers import files, queue
from printers.dispatcher import Dispatcher
from printers.jobs import JobState, why
from printers.orm import Printer, PrintJob
from tests.conftest import Lab
from tests.printers.jobs import gcode
from visits.model import VisitStatus
from visits.service import create_visit

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def setup(session: Session, tmp_path: Path) -> tuple[Printer, int]:
    upload = tmp_path / "boat.gcode"
    upload.write_bytes(gcode(1))
    demo = files.add_file(session, tmp_path, upload, "boat.gcode")
    printer = Printer(name="Prusa", url="http://127.0.0.1:9", api_key_sealed="x", bed_clear=True)
    session.add(printer)
    session.flush()
    return printer, demo.id


def job(session: Session, file_id: int, printer: Printer, **values: object) -> PrintJob:
    return queue.create_job(session, {"file_id": file_id, "printer_id": printer.id, **values})


def test_the_next_job_is_by_priority_then_time_and_waits_for_its_start(
    lab: Lab, tmp_path: Path
) -> None:
    with database.transaction(lab.sessions) as session:
        printer, file_id = setup(session, tmp_path)
        low = job(session, file_id, printer)
        later = job(session, file_id, printer, priority=5, not_before=NOW + timedelta(minutes=1))
        high = job(session, file_id, printer, priority=5)
        assert queue.claim_next(session, printer, NOW) is high
        assert printer.bed_clear is False
        assert queue.claim_next(session, printer, NOW) is None  # the bed is not clear
        printer.bed_clear = True
        assert queue.claim_next(session, printer, NOW) is low  # "later" is not due yet
        printer.bed_clear = True
        assert queue.claim_next(session, printer, NOW + timedelta(minutes=1)) is later


def test_jobs_of_a_past_slot_or_a_gone_visit_are_cancelled_not_printed(
    lab: Lab, tmp_path: Path
) -> None:
    with database.transaction(lab.sessions) as session:
        printer, file_id = setup(session, tmp_path)
        visit = create_visit(
            session,
            {
                "library": "Stadtbibliothek Krefeld",
                "date": date(2026, 12, 3),
                "participants": 9,
                "status": VisitStatus.CONFIRMED,
            },
        )
        missed = job(session, file_id, printer, not_after=NOW - timedelta(seconds=1))
        orphan = job(session, file_id, printer, visit_id=visit.id, group_id=2)
        session.flush()
        session.delete(visit)
        session.flush()
        session.expire_all()
        assert queue.claim_next(session, printer, NOW) is None
        assert printer.bed_clear is True  # nothing was taken
        for cancelled, why in (
            (missed, "its time window passed before a printer was free"),
            (orphan, "its visit was cancelled or deleted"),
        ):
            refreshed = queue.get_job(session, cancelled.id)
            assert refreshed.state is JobState.CANCELLED
            assert refreshed.reason == why


def test_a_priority_out_of_range_is_refused(lab: Lab, tmp_path: Path) -> None:
    with database.transaction(lab.sessions) as session:
        printer, file_id = setup(session, tmp_path)
        with pytest.raises(InvalidInput, match="priority goes from -100 to 100"):
            job(session, file_id, printer, priority=1000)


def test_the_wall_shows_a_failed_print_until_its_bed_is_cleared(lab: Lab, tmp_path: Path) -> None:
    with database.transaction(lab.sessions) as session:
        printer, file_id = setup(session, tmp_path)
        failed = job(session, file_id, printer)
        assert queue.claim_next(session, printer, NOW) is failed
        queue.move(session, failed, JobState.FAILED, why("printer error: {detail}", "MINTEMP"))
        printer_id = printer.id
    dispatcher = Dispatcher(lab.engine, lab.sessions, tmp_path)
    shown = dispatcher.duty(printer_id)
    assert shown.bed_clear is False
    assert shown.job is not None
    assert (shown.job["id"], shown.job["state"]) == (failed.id, "failed")
    dispatcher.bed_cleared(printer_id, None)
    assert dispatcher.duty(printer_id).as_dict() == {"bed_clear": True, "job": None}


def test_a_reschedule_leaves_a_job_alone_once_a_printer_took_it(lab: Lab, tmp_path: Path) -> None:
    with database.transaction(lab.sessions) as session:
        printer, file_id = setup(session, tmp_path)
        taken = job(session, file_id, printer)
        job_id = taken.id
    with lab.sessions() as planner:
        stale = queue.get_job(planner, job_id)  # the plan sync has read it as queued
        with database.transaction(lab.sessions) as dispatcher:
            claimer = dispatcher.get(Printer, printer.id)
            assert claimer is not None
            assert queue.claim_next(dispatcher, claimer, NOW) is not None
        later = NOW + timedelta(hours=1)
        assert queue.reschedule(planner, stale, {"not_before": later}) is False
        planner.commit()
    with lab.sessions() as session:
        stored = queue.get_job(session, job_id)
        assert stored.state is JobState.UPLOADING
        assert stored.not_before is None
