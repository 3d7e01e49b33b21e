"""Print jobs: their states, the allowed transitions, and how a job on a printer is judged
against what OctoPrint says. Pure: no database, no network.

    queued → uploading → printing → finished → awaiting_bed_clear → done
       ↑         │           │
       │         └───────────┴──→ failed | cancelled | unknown
       └──── retry by staff ─────────┘

``unknown`` means the service lost track of the job (OctoPrint restarted, the service died
while sending it): the job waits for staff and is never started again on its own. Positive
evidence (OctoPrint printing the job's own file) brings it back to ``printing``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from librarylab.errors import Problem
from printers.model import (
    DISCONNECTED,
    ERROR,
    OPERATIONAL,
    PAUSED,
    PRINTING,
    SILENT,
    STALLED,
    Snapshot,
)


class JobState(enum.StrEnum):
    QUEUED = "queued"
    UPLOADING = "uploading"
    PRINTING = "printing"
    FINISHED = "finished"
    AWAITING_BED_CLEAR = "awaiting_bed_clear"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


Q, UP, PR, FIN, BED, DONE = (
    JobState.QUEUED,
    JobState.UPLOADING,
    JobState.PRINTING,
    JobState.FINISHED,
    JobState.AWAITING_BED_CLEAR,
    JobState.DONE,
)
FAILED, CANCELLED, UNKNOWN = JobState.FAILED, JobState.CANCELLED, JobState.UNKNOWN

ALLOWED: dict[JobState, frozenset[JobState]] = {
    Q: frozenset({UP, CANCELLED}),
    UP: frozenset({PR, FAILED, CANCELLED, UNKNOWN, Q}),  # Q: OctoPrint was busy, nothing sent
    PR: frozenset({FIN, FAILED, CANCELLED, UNKNOWN}),
    FIN: frozenset({BED}),
    BED: frozenset({DONE}),
    DONE: frozenset(),
    FAILED: frozenset({Q}),  # retry by staff
    CANCELLED: frozenset({Q}),
    UNKNOWN: frozenset({PR, FIN, FAILED, CANCELLED, Q}),
}
ACTIVE = frozenset({UP, PR})  # the printer is busy with the job
OPEN = frozenset({Q, UP, PR, UNKNOWN})  # not settled yet
# Something of the job may be on the printer: being sent or printed, a part on the bed
# (``finished`` passes on to ``awaiting_bed_clear`` in the same transaction), or unclear.
ON_PRINTER = frozenset({UP, PR, FIN, BED, UNKNOWN})


def why(template: str, detail: str = "", **params: str) -> Problem:
    """A reason for a transition: an English template (translated on the staff page) and its
    values, each cut to a length the history can hold."""
    values = {"detail": detail, **params} if detail or "{detail}" in template else params
    return Problem("reason", template, {k: str(v)[:200] for k, v in values.items()})


# The one reason that says a person, not the service, cancelled a job (plan_jobs tells the
# two apart: a print staff cancelled is not queued again by a re-plan).
CANCELLED_BY_STAFF = why("cancelled by staff")


def remote_name(job_id: int, attempt: str) -> str:
    """The file name on OctoPrint: one per attempt of a job (``attempt`` is random), so what
    a printer does is matched to exactly one attempt, even across a reset database or a
    retried job whose earlier attempt OctoPrint still shows."""
    return f"librarylab-job-{job_id}-{attempt}.gcode"


@dataclass(frozen=True)
class Verdict:
    """What a snapshot says about a job on that printer: the next states and why."""

    states: tuple[JobState, ...]
    reason: Problem


def judge(
    state: JobState, sent_as: str | None, snapshot: Snapshot, *, leftover: bool
) -> Verdict | None:
    """Compare an open job on a printer with a fresh snapshot; None leaves it as it is.

    ``leftover`` is true for an ``uploading`` job the dispatcher is not sending right now:
    the service stopped mid-way, so only OctoPrint printing the file counts as started.
    """
    if state not in ACTIVE and state is not UNKNOWN:
        return None
    ours = sent_as is not None and snapshot.file == sent_as
    printer = snapshot.state
    if printer in SILENT:
        if state is PR:
            return Verdict(
                (UNKNOWN,),
                why("lost contact with OctoPrint during the print: {detail}", snapshot.detail),
            )
        return None
    if printer == ERROR:
        if state in ACTIVE:
            return Verdict((FAILED,), why("printer error: {detail}", snapshot.detail or printer))
        return None
    if printer == DISCONNECTED:
        # OctoPrint lost its serial line (or restarted and has not reconnected): the print
        # may have ended either way, so the job is unclear rather than failed.
        if state is PR or (state is UP and leftover):
            detail = snapshot.detail or printer
            return Verdict(
                (UNKNOWN,), why("OctoPrint is not connected to the printer: {detail}", detail)
            )
        return None
    if ours and printer in (PRINTING, PAUSED, STALLED):
        if state is PR:
            return None
        return Verdict((PR,), why("OctoPrint is printing the job's file"))
    if ours and printer == OPERATIONAL:
        if snapshot.progress is not None and snapshot.progress >= 100:
            walk = (PR, FIN, BED) if state is UP else (FIN, BED)
            return Verdict(walk, why("OctoPrint finished the print"))
        if state is PR:
            return Verdict((FAILED,), why("the print was stopped on the printer"))
        if state is UP and leftover:  # started, then stopped while the service was away
            return Verdict((UNKNOWN,), why("the print was stopped on the printer"))
        return None
    if printer in (OPERATIONAL, PRINTING, PAUSED, STALLED):
        if state is PR:
            return Verdict((UNKNOWN,), why("OctoPrint no longer knows the job (restarted?)"))
        if state is UP and leftover:
            return Verdict(
                (UNKNOWN,),
                why("the service stopped while sending the job; OctoPrint is not printing it"),
            )
    return None
