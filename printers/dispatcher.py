"""The dispatcher: after every look at a printer, settle its jobs and maybe start the next.

Order of trust: the job is stored (``uploading``) before OctoPrint is contacted; OctoPrint is
asked what it is doing right before the file is sent; the file goes up under a name derived
from the job id, so whatever the printer does later can be matched to exactly one job.
Nothing is ever started again on a guess: a job the service lost track of becomes
``unknown`` and waits for staff.

One step per printer runs at a time, across all instances sharing the database (a thread
lock here, an advisory lock on PostgreSQL); claims are compare-and-set updates besides.
Staff actions on a printer (cancel, retry, bed cleared, delete) take the same lock. Those
that need OctoPrint (cancel a print, ask before retrying an unclear job) run as errands on
the printer's coordinator, the only caller of its OctoPrint.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from librarylab.database import exclusive, exclusive_connection
from librarylab.errors import Conflict, Problem
from printers import queue
from printers.jobs import ACTIVE, CANCELLED_BY_STAFF, JobState, judge, why
from printers.model import OPERATIONAL, PAUSED, PRINTING, STALLED, Duty, Snapshot
from printers.octoprint import Busy, OctoPrintClient, PrinterError, Rejected, Unreachable
from printers.orm import Printer, PrintFile, PrintJob
from printers.service import active_job, get_printer

log = logging.getLogger(__name__)
# Runs an errand with the printer's client on its coordinator, and waits for it.
OnPrinter = Callable[[int, Callable[[OctoPrintClient], None]], None]
Sessions = Callable[[], Session]
LOCK_NAMESPACE = 5150  # advisory-lock namespace of printer steps
SHOWN = (*ACTIVE, JobState.UNKNOWN, JobState.AWAITING_BED_CLEAR, JobState.FAILED)
# How long a printer is asked for its analysis of a file printed without a slicer estimate.
ESTIMATE_PATIENCE = timedelta(minutes=15)


# How long a step waits for a slot before it leaves the printer to its next look.
SLOT_PATIENCE = 5.0


def step_slots(engine: Engine) -> int:
    """How many printers may step at once: two thirds of the connection pool, so that the
    steps of a large fleet wait for each other and never for the pool, and the rest of the
    pool stays free for requests (a request waiting for the pool fails after 30 s)."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        overflow = pool._max_overflow  # the pool has no public getter for its limit
        if overflow >= 0:
            return max(1, (pool.size() + overflow) * 2 // 3)
    return 1_000  # a pool without a limit


@dataclass(frozen=True)
class _Awaited:
    """A printed file whose estimate is awaited from OctoPrint's analysis of its upload."""

    file_id: int
    remote_name: str
    until: datetime


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        files_dir: Path,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._files_dir = files_dir
        self._clock = clock
        self._locks: dict[int, threading.Lock] = {}
        self._slots = threading.BoundedSemaphore(step_slots(engine))
        # Per printer; read and changed only in a step of that printer (under its guard).
        self._awaited: dict[int, list[_Awaited]] = {}

    @contextmanager
    def _guard(self, printer_id: int, *, wait: bool) -> Iterator[bool]:
        lock = self._locks.setdefault(printer_id, threading.Lock())
        if not lock.acquire(blocking=wait):
            yield False
            return
        try:
            with exclusive(self._engine, LOCK_NAMESPACE, printer_id, wait=wait) as got:
                yield got
        finally:
            lock.release()

    @contextmanager
    def _step_guard(self, printer_id: int) -> Iterator[Sessions | None]:
        """The guard of a step, and sessions on the lock's own connection: every printer
        steps about once a second, so a step holds one pooled connection, not two (a fleet
        of printers would otherwise take twice its size out of the pool), and only while
        it has one of the fleet's step slots (``step_slots``). None: another step of the
        printer is running, or no slot came free in time."""
        lock = self._locks.setdefault(printer_id, threading.Lock())
        if not lock.acquire(blocking=False):
            yield None
            return
        try:
            if not self._slots.acquire(timeout=SLOT_PATIENCE):
                log.warning("printer %d: no database connection free for its step", printer_id)
                yield None
                return
            try:
                with exclusive_connection(
                    self._engine, LOCK_NAMESPACE, printer_id, wait=False
                ) as connection:
                    yield None if connection is None else partial(self._sessions, bind=connection)
            finally:
                self._slots.release()
        finally:
            lock.release()

    def step(self, printer_id: int, client: OctoPrintClient, snapshot: Snapshot) -> Duty | None:
        """Settle the printer's open jobs against ``snapshot``, then start the next one if
        the printer is idle and its bed confirmed clear. None: another step is running."""
        with self._step_guard(printer_id) as sessions:
            if sessions is None:
                return None
            self._reconcile(sessions, printer_id, snapshot)
            if snapshot.state == OPERATIONAL:
                if printer_id in self._awaited:
                    self._learn_estimates(sessions, printer_id, client)
                self._dispatch(sessions, printer_id, client)
            return self.duty(printer_id, sessions)

    def duty(self, printer_id: int, sessions: Sessions | None = None) -> Duty:
        with (sessions or self._sessions)() as session:
            printer = session.get(Printer, printer_id)
            job = session.scalars(
                select(PrintJob)
                .where(PrintJob.assigned_printer_id == printer_id, PrintJob.state.in_(SHOWN))
                .order_by(PrintJob.updated_at.desc(), PrintJob.id.desc())
            ).first()
            bed_clear = bool(printer and printer.bed_clear)
            summary = None
            # A failed print matters until its bed is cleared; then the tile shows no job.
            if job is not None and not (job.state is JobState.FAILED and bed_clear):
                summary = {
                    "id": job.id,
                    "state": job.state.value,
                    "file": job.file.name,
                    "visit_id": job.visit_id,
                    "group_id": job.group_id,
                    "group": job.group_name or (str(job.group_id) if job.group_id else None),
                }
            return Duty(bed_clear, summary)

    def _reconcile(self, sessions: Sessions, printer_id: int, snapshot: Snapshot) -> None:
        with sessions() as session:
            for job in queue.open_jobs_on(session, printer_id):
                verdict = judge(job.state, job.remote_name, snapshot, leftover=True)
                if verdict is None:
                    continue
                try:
                    for state in verdict.states:
                        queue.move(session, job, state, verdict.reason, self._clock())
                except Conflict:  # staff settled it meanwhile: their word stands
                    session.rollback()
                    continue
                session.commit()
                log.info(
                    "job %d on printer %d: %s (%s)",
                    job.id,
                    printer_id,
                    job.state,
                    verdict.reason.message,
                )
                if job.state is JobState.AWAITING_BED_CLEAR:
                    self._await_estimate(session, printer_id, job)

    def _await_estimate(self, session: Session, printer_id: int, job: PrintJob) -> None:
        """A file printed without a slicer estimate takes OctoPrint's analysis of the job's
        upload; the printer is asked on its idle looks from now on (``_learn_estimates``)."""
        record = session.get(PrintFile, job.file_id)
        if record is None or record.estimated_seconds is not None or not job.remote_name:
            return
        until = self._clock() + ESTIMATE_PATIENCE
        awaited = _Awaited(job.file_id, job.remote_name, until)
        self._awaited.setdefault(printer_id, []).append(awaited)

    def _learn_estimates(
        self, sessions: Sessions, printer_id: int, client: OctoPrintClient
    ) -> None:
        """Ask the idle printer for its analysis of the files whose estimate is awaited.

        OctoPrint analyses an upload only while it prints nothing, so a file printed right
        after its upload is analysed a moment after that print ends, or later. Each file is
        asked for until the estimate is known (from this printer or any other), OctoPrint
        has analysed it without one (it extrudes nothing) or no longer has it, or
        ``ESTIMATE_PATIENCE`` has passed; its next print asks again.
        """
        now = self._clock()
        kept: list[_Awaited] = []
        with sessions() as session:
            awaited = self._awaited.get(printer_id, [])
            for index, item in enumerate(awaited):
                record = session.get(PrintFile, item.file_id)
                if record is None or record.estimated_seconds is not None:
                    continue
                if now >= item.until:
                    log.info("file %d: OctoPrint gave no estimate in time", item.file_id)
                    continue
                try:
                    analysis = client.analysis(item.remote_name)
                except Rejected as exc:
                    if exc.status != 404:  # else the upload is gone: nothing left to analyse
                        kept.append(item)
                    continue
                except PrinterError:  # no answer: ask again at the next idle look
                    kept.extend(awaited[index:])
                    break
                if not analysis.done:
                    kept.append(item)
                elif analysis.estimated_seconds is not None:
                    record.estimated_seconds = analysis.estimated_seconds
                    session.commit()
                    log.info(
                        "file %d: %d s, from OctoPrint's analysis",
                        item.file_id,
                        analysis.estimated_seconds,
                    )
        if kept:
            self._awaited[printer_id] = kept
        else:
            self._awaited.pop(printer_id, None)

    def _dispatch(self, sessions: Sessions, printer_id: int, client: OctoPrintClient) -> None:
        with sessions() as session:
            printer = session.get(Printer, printer_id)
            if printer is None or not printer.bed_clear or active_job(session, printer_id):
                return
            job = queue.claim_next(session, printer, self._clock())
            session.commit()
            if job is not None:
                self._send(session, printer, job, client)

    def _send(
        self, session: Session, printer: Printer, job: PrintJob, client: OctoPrintClient
    ) -> None:
        name = job.remote_name or ""
        local = self._files_dir / f"{job.file_id}.gcode"
        try:
            raw = client.status()
            if not raw.idle:
                # Someone else's print, or not ready: that print may leave a part behind.
                said = why("OctoPrint is busy: {detail}", raw.connection)
                self._back(session, printer, job, said, clear=False)
                return
            if not local.is_file():
                self._fail(
                    session, printer, job, why("the demo file is missing from the data folder")
                )
                return
            client.upload(local, name)
        except PrinterError as exc:
            self._back(session, printer, job, why("not sent: {detail}", str(exc)), clear=True)
            return
        try:
            client.start(name)
        except Unreachable as exc:
            # The start may have reached OctoPrint: the next look decides (printing → printing,
            # idle → unknown). Starting it again here could print it twice.
            log.warning("job %d: no answer to the start command: %s", job.id, exc)
            return
        except Busy as exc:  # another print began in between: it may leave a part behind
            self._back(session, printer, job, why("not started: {detail}", str(exc)), clear=False)
            return
        except PrinterError as exc:
            refused = why("OctoPrint refused to start it: {detail}", str(exc))
            self._fail(session, printer, job, refused)
            return
        started = why("printing on {printer}", printer=printer.name)
        queue.move(session, job, JobState.PRINTING, started, self._clock())
        session.commit()
        log.info("job %d: printing on printer %d", job.id, printer.id)

    def _back(
        self, session: Session, printer: Printer, job: PrintJob, reason: Problem, *, clear: bool
    ) -> None:
        """Nothing was started: the job returns to the queue."""
        queue.move(session, job, JobState.QUEUED, reason, self._clock())
        job.assigned_printer_id = None
        printer.bed_clear = clear
        session.commit()
        log.info("job %d back in the queue: %s", job.id, reason.message)

    def _fail(self, session: Session, printer: Printer, job: PrintJob, reason: Problem) -> None:
        """Refused before printing: the bed is as clear as it was."""
        queue.move(session, job, JobState.FAILED, reason, self._clock())
        printer.bed_clear = True
        session.commit()
        log.warning("job %d failed: %s", job.id, reason.message)

    def cancel(self, job_id: int, on_printer: OnPrinter) -> None:
        """Cancel a job; one on a printer is cancelled on OctoPrint first, by the printer's
        coordinator (``on_printer``, see ``Fleet.on_printer``)."""
        with self._sessions() as session:
            job = queue.get_job(session, job_id)
            printer_id = job.assigned_printer_id
            if job.state not in ACTIVE or printer_id is None:
                queue.cancel_waiting(session, job, CANCELLED_BY_STAFF)
                session.commit()
                return
        on_printer(printer_id, lambda client: self._cancel_on(printer_id, job_id, client))

    def _cancel_on(self, printer_id: int, job_id: int, client: OctoPrintClient) -> None:
        """On the printer's coordinator: stop the print if it is the job's, then record it."""
        with self._guard(printer_id, wait=True), self._sessions() as session:
            job = queue.get_job(session, job_id)
            if job.state in ACTIVE:
                try:
                    raw = client.status()
                    if raw.file == job.remote_name and not raw.idle:
                        client.cancel()
                except PrinterError as exc:
                    raise Conflict(
                        "OctoPrint did not cancel the print: {reason}", reason=str(exc)
                    ) from None
            queue.move(session, job, JobState.CANCELLED, CANCELLED_BY_STAFF, self._clock())
            session.commit()

    def bed_cleared(self, printer_id: int, snapshot: Snapshot | None) -> Printer:
        """Staff confirm the bed is empty, while no step looks at the printer; refused while
        OctoPrint says it prints (also paused or stalled)."""
        printing = snapshot is not None and snapshot.state in (PRINTING, PAUSED, STALLED)
        with self._guard(printer_id, wait=True), self._sessions() as session:
            printer = queue.bed_cleared(session, printer_id, printing)
            session.commit()
            return printer

    def delete_printer(self, printer_id: int) -> None:
        """Delete a printer while no step looks at it (so no job is claimed meanwhile);
        refused while something of a job may be on it, see ``queue.before_printer_deleted``."""
        with self._guard(printer_id, wait=True), self._sessions() as session:
            printer = get_printer(session, printer_id)
            queue.before_printer_deleted(session, printer_id)
            session.delete(printer)
            session.commit()
            self._awaited.pop(printer_id, None)

    def retry(self, job_id: int, on_printer: OnPrinter) -> None:
        """Staff put a job back in the queue. An unclear job is retried only when its printer
        answers and is not printing it, and has not finished it (that would print it twice);
        the printer's coordinator asks it (``on_printer``, see ``Fleet.on_printer``)."""
        with self._sessions() as session:
            job = queue.get_job(session, job_id)
            printer_id = job.assigned_printer_id
            if job.state is not JobState.UNKNOWN or printer_id is None:
                queue.retry(session, job)
                session.commit()
                return
        on_printer(printer_id, lambda client: self._retry_on(printer_id, job_id, client))

    def _retry_on(self, printer_id: int, job_id: int, client: OctoPrintClient) -> None:
        """On the printer's coordinator: retry an unclear job once OctoPrint says it is safe."""
        with self._guard(printer_id, wait=True), self._sessions() as session:
            job = queue.get_job(session, job_id)
            if job.state is JobState.UNKNOWN:
                self._check_not_printing(job, client)
            queue.retry(session, job)
            session.commit()

    def _check_not_printing(self, job: PrintJob, client: OctoPrintClient) -> None:
        try:
            raw = client.status()
        except PrinterError:
            raise Conflict(
                "The printer does not answer, so job {id} may still be printing there; "
                "retry when it answers.",
                id=job.id,
            ) from None
        if raw.file == job.remote_name and (not raw.idle or (raw.completion or 0) >= 100):
            raise Conflict(
                "The printer is still printing job {id}, or has finished it; it is not "
                "printed again.",
                id=job.id,
            )
