"""Demo prints that follow a visit's plan: one job per group, timed to its printing slot.

Called whenever a plan is made or changed (in the same transaction): queued jobs move with
their group's slot or are cancelled when the group no longer has one; jobs already on a
printer, or settled, are left alone (a group never gets a second demo print).

Who cancelled a job decides whether the group gets a new one. A job staff cancelled (its
reason is ``CANCELLED_BY_STAFF``) keeps covering its group: no plan or re-plan queues
another print for it; only a retry by staff puts it back in the queue. A job the service
cancelled itself (the group lost its printing slot, no demo file fit, the slot passed) does
not: when a later plan gives the group a printing slot, it gets a new job.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from librarylab.errors import Conflict
from printers import queue
from printers.jobs import CANCELLED_BY_STAFF, JobState, why
from printers.orm import PrintFile, PrintJob
from stations.model import Kind
from stations.orm import Station

log = logging.getLogger(__name__)


def pick_file(files: list[PrintFile], seconds: int) -> PrintFile | None:
    """The longest demo that still fits the slot (most to watch); None if none fits."""
    fitting = [
        f for f in files if f.estimated_seconds is not None and f.estimated_seconds <= seconds
    ]
    return max(fitting, key=lambda f: (f.estimated_seconds or 0, -f.id), default=None)


def _at(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)), zone)


def sync_visit(
    session: Session, visit_id: int, day: date, document: dict[str, Any], zone: ZoneInfo
) -> None:
    printing = set(session.scalars(select(Station.id).where(Station.kind == Kind.PRINTING)))
    wanted: dict[int, tuple[int, int, datetime, datetime]] = {}
    for slot in document["slots"]:
        for assignment in slot["assignments"]:
            if assignment["station_id"] in printing:
                wanted.setdefault(
                    assignment["group_id"],
                    (
                        assignment["station_id"],
                        slot["index"],
                        _at(day, slot["start"], zone),
                        _at(day, slot["end"], zone),
                    ),
                )
    names = {group["id"]: group["name"] for group in document["groups"]}
    files = list(session.scalars(select(PrintFile).order_by(PrintFile.id)))
    jobs = session.scalars(
        select(PrintJob).where(PrintJob.visit_id == visit_id, PrintJob.group_id.is_not(None))
    ).all()
    covered = set()
    for job in jobs:
        if job.state is JobState.CANCELLED and job.reason != CANCELLED_BY_STAFF.template:
            continue  # cancelled by the service: a printing slot may bring a new job
        assert job.group_id is not None
        covered.add(job.group_id)
        if job.state is not JobState.QUEUED:
            continue
        # A printer may claim the job meanwhile: every change below is conditional on
        # "still queued", and a job that left the queue is left alone.
        chosen = None
        if job.group_id in wanted:
            station_id, slot_index, start, end = wanted[job.group_id]
            chosen = pick_file(files, int((end - start).total_seconds()))
        if chosen is None:
            gone = (
                why("no demo file fits the new slot")
                if job.group_id in wanted
                else why("the group has no printing slot anymore")
            )
            with contextlib.suppress(Conflict):
                queue.move(session, job, JobState.CANCELLED, gone)
            continue
        queue.reschedule(
            session,
            job,
            {
                "station_id": station_id,
                "slot_index": slot_index,
                "file_id": chosen.id,
                "group_name": names.get(job.group_id),
                "not_before": start.astimezone(UTC),
                "not_after": end.astimezone(UTC),
            },
        )
    for group_id, (station_id, slot_index, start, end) in sorted(wanted.items()):
        if group_id in covered:
            continue
        chosen = pick_file(files, int((end - start).total_seconds()))
        if chosen is None:
            log.warning(
                "visit %d group %d: no demo file fits its printing slot", visit_id, group_id
            )
            continue
        queue.create_job(
            session,
            {
                "file_id": chosen.id,
                "station_id": station_id,
                "visit_id": visit_id,
                "group_id": group_id,
                "group_name": names.get(group_id),
                "slot_index": slot_index,
                "not_before": start,
                "not_after": end,
            },
        )
    session.flush()
