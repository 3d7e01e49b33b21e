"""Station rules as a table."""

from __future__ import annotations

import pytest

from stations.model import Status, station_problems


@pytest.mark.parametrize(
    ("name", "capacity", "status", "reason", "broken"),
    [
        ("VR 1", 2, Status.AVAILABLE, "", []),
        ("VR 1", 2, Status.OUT_OF_SERVICE, "Kabel defekt", []),
        ("", 2, Status.AVAILABLE, "", ["name"]),
        ("   ", 2, Status.AVAILABLE, "", ["name"]),
        ("x" * 81, 2, Status.AVAILABLE, "", ["name"]),
        ("VR 1", 0, Status.AVAILABLE, "", ["capacity"]),
        ("VR 1", 101, Status.AVAILABLE, "", ["capacity"]),
        ("VR 1", 2, Status.OUT_OF_SERVICE, " ", ["status_reason"]),
        ("", 0, Status.OUT_OF_SERVICE, "", ["name", "capacity", "status_reason"]),
    ],
)
def test_station_rules(
    name: str, capacity: int, status: Status, reason: str, broken: list[str]
) -> None:
    problems = station_problems(name=name, capacity=capacity, status=status, status_reason=reason)
    assert [p.field for p in problems] == broken
    assert all(p.message.endswith(".") for p in problems)
