"""How an open job is judged against what OctoPrint says (pure rules, as a table)."""

from __future__ import annotations

import pytest

from printers.jobs import ALLOWED, JobState, judge, remote_name
from printers.model import Snapshot

OURS = remote_name(7, "a1b2c3")
OTHER = remote_name(7, "d4e5f6")  # an earlier attempt of the same job
S = JobState


@pytest.mark.parametrize(
    ("job", "printer", "file", "progress", "leftover", "expected"),
    [
        # Following a print.
        (S.PRINTING, "printing", OURS, 40.0, False, None),
        (S.PRINTING, "stalled", OURS, 40.0, False, None),
        (S.PRINTING, "operational", OURS, 100.0, False, (S.FINISHED, S.AWAITING_BED_CLEAR)),
        (S.PRINTING, "operational", OURS, None, False, (S.FAILED,)),  # cancelled on OctoPrint
        (S.PRINTING, "error", None, None, False, (S.FAILED,)),
        (S.PRINTING, "disconnected", None, None, False, (S.UNKNOWN,)),  # may have ended
        # OctoPrint restarted: the job vanished; never "finished".
        (S.PRINTING, "operational", None, None, False, (S.UNKNOWN,)),
        (S.PRINTING, "printing", OTHER, 10.0, False, (S.UNKNOWN,)),
        (S.PRINTING, "offline", OURS, 40.0, False, (S.UNKNOWN,)),
        (S.PRINTING, "unauthorized", OURS, 40.0, False, (S.UNKNOWN,)),
        (S.PRINTING, "unknown", None, None, False, None),  # not asked yet
        # A job left in "uploading" by a stopped service.
        (S.UPLOADING, "printing", OURS, 5.0, True, (S.PRINTING,)),
        (
            S.UPLOADING,
            "operational",
            OURS,
            100.0,
            True,
            (S.PRINTING, S.FINISHED, S.AWAITING_BED_CLEAR),
        ),
        (S.UPLOADING, "operational", None, None, True, (S.UNKNOWN,)),
        (S.UPLOADING, "operational", None, None, False, None),
        (S.UPLOADING, "offline", None, None, True, None),
        (S.UPLOADING, "operational", OURS, 37.0, True, (S.UNKNOWN,)),  # stopped meanwhile
        (S.UPLOADING, "operational", OURS, None, False, None),  # being started right now
        (S.UPLOADING, "disconnected", None, None, True, (S.UNKNOWN,)),
        # Unknown comes back only on evidence.
        (S.UNKNOWN, "printing", OURS, 60.0, False, (S.PRINTING,)),
        (S.UNKNOWN, "operational", OURS, 100.0, False, (S.FINISHED, S.AWAITING_BED_CLEAR)),
        (S.UNKNOWN, "operational", None, None, False, None),
        (S.UNKNOWN, "error", None, None, False, None),
        # Settled jobs are not judged.
        (S.QUEUED, "printing", OURS, 5.0, False, None),
        (S.DONE, "operational", OURS, 100.0, False, None),
    ],
)
def test_judgement(
    job: JobState,
    printer: str,
    file: str | None,
    progress: float | None,
    leftover: bool,
    expected: tuple[JobState, ...] | None,
) -> None:
    snapshot = Snapshot(state=printer, file=file, progress=progress, detail="why")
    verdict = judge(job, OURS, snapshot, leftover=leftover)
    assert (verdict.states if verdict else None) == expected
    if verdict:
        current = job
        for state in verdict.states:  # every verdict is a walk the state machine allows
            assert state in ALLOWED[current]
            current = state


def test_finished_is_never_reached_from_anything_but_a_print() -> None:
    sources = {state for state, targets in ALLOWED.items() if S.FINISHED in targets}
    assert sources == {S.PRINTING, S.UNKNOWN}
    assert ALLOWED[S.DONE] == frozenset()
