"""Printer states as the service derives them from OctoPrint's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from printers.model import RawStatus, Snapshot, after_failure, from_octoprint, judged

NOW = datetime(2018, 4, 16, 11, 0, tzinfo=UTC)


def read(
    connection: str,
    *,
    completion: float | None = None,
    error: str = "",
    previous: Snapshot | None = None,
    at: datetime = NOW,
) -> Snapshot:
    raw = RawStatus(
        connection,
        error=error,
        file="job-7.gcode",
        completion=completion,
        print_time=10,
        print_time_left=50,
        temperatures={"tool0": (210.0, 210.0)},
    )
    return from_octoprint(previous or Snapshot(), raw, at)


@pytest.mark.parametrize(
    ("connection", "state"),
    [
        ("Operational", "operational"),
        ("Printing", "printing"),
        ("Printing from SD", "printing"),
        ("Finishing", "printing"),
        ("Paused", "paused"),
        ("Pausing", "paused"),
        ("Offline after error", "error"),
        ("Error", "error"),
        ("Closed", "disconnected"),
        ("Detecting serial connection", "disconnected"),
    ],
)
def test_octoprint_states_in_our_words(connection: str, state: str) -> None:
    assert read(connection).state == state


def test_a_firmware_error_keeps_its_message() -> None:
    snapshot = read("Offline after error", error="MINTEMP triggered")
    assert (snapshot.state, snapshot.detail) == ("error", "MINTEMP triggered")


def test_a_refused_key_shows_at_once_silence_only_after_a_while() -> None:
    good = read("Operational")
    assert (
        after_failure(good, unauthorized=True, reason="key", now=NOW, offline_after=5).state
        == "unauthorized"
    )
    soon = after_failure(
        good, unauthorized=False, reason="timeout", now=NOW + timedelta(seconds=3), offline_after=5
    )
    assert soon.state == "operational"
    late = after_failure(
        good, unauthorized=False, reason="timeout", now=NOW + timedelta(seconds=6), offline_after=5
    )
    assert (late.state, late.detail) == ("offline", "timeout")
    assert late.last_read == NOW  # the wall shows how old the data is


def test_frozen_progress_is_a_stalled_print() -> None:
    first = read("Printing", completion=40.0)
    same = read("Printing", completion=40.0, previous=first, at=NOW + timedelta(seconds=30))
    assert same.progress_since == NOW
    assert judged(same, NOW + timedelta(seconds=30), stall_after=60).state == "printing"
    stalled = judged(same, NOW + timedelta(seconds=61), stall_after=60)
    assert (stalled.state, stalled.detail) == ("stalled", "no progress for 61 s")
    moving = read("Printing", completion=41.0, previous=same, at=NOW + timedelta(seconds=61))
    assert judged(moving, NOW + timedelta(seconds=61), stall_after=60).state == "printing"
