"""The wall's state as a pure reducer of MQTT messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.state import WallState
from dashboard.topics import Topics

T = Topics("librarylab/duesseldorf")
NOW = datetime(2018, 4, 16, 9, 30, tzinfo=UTC)


def wall() -> WallState:
    return WallState(T, max_heartbeat_age=30)


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("librarylab/duesseldorf/stations/3/state", ("station_state", 3)),
        ("librarylab/duesseldorf/stations/3/heartbeat", ("station_heartbeat", 3)),
        ("librarylab/duesseldorf/visits/current", ("current_visit", None)),
        ("librarylab/duesseldorf/visits/7/rotation", ("rotation", 7)),
        ("librarylab/duesseldorf/service/status", ("service_status", None)),
        ("librarylab/duesseldorf/stations/x/state", ("", None)),
        ("librarylab/krefeld/stations/3/state", ("", None)),
        ("$SYS/broker/uptime", ("", None)),
    ],
)
def test_topics_are_recognised(topic: str, parsed: tuple[str, int | None]) -> None:
    assert T.parse(topic) == parsed


def test_station_state_and_heartbeats_make_one_card() -> None:
    state = wall()
    assert state.apply(T.station_state(3), {"name": "Xbox One", "status": "available"}, NOW) == [
        "station:3"
    ]
    stamp = (NOW - timedelta(seconds=4)).isoformat()
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": stamp}, NOW)
    card = state.part("station:3")
    assert (card["name"], card["agent"], card["last_seen"]) == ("Xbox One", "online", stamp)


def test_a_last_will_marks_the_station_offline() -> None:
    state = wall()
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": NOW.isoformat()}, NOW)
    state.apply(T.station_heartbeat(3), {"state": "offline"}, NOW)
    assert state.part("station:3")["agent"] == "offline"


def test_old_heartbeats_expire() -> None:
    state = wall()
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": NOW.isoformat()}, NOW)
    assert state.expire(NOW + timedelta(seconds=29)) == []
    assert state.expire(NOW + timedelta(seconds=31)) == ["station:3"]
    assert state.part("station:3")["agent"] == "offline"
    assert state.expire(NOW + timedelta(seconds=40)) == []  # said once


def test_a_replayed_old_heartbeat_counts_from_when_it_was_sent() -> None:
    state = wall()
    sent = (NOW - timedelta(minutes=5)).isoformat()
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": sent}, NOW)
    assert state.expire(NOW) == ["station:3"]


def test_cleared_topics_remove_their_cards() -> None:
    state = wall()
    state.apply(T.station_state(3), {"name": "Xbox One"}, NOW)
    state.apply(T.rotation(7), {"visit_id": 7, "slots": []}, NOW)
    state.apply(T.station_state(3), None, NOW)
    state.apply(T.rotation(7), None, NOW)
    assert state.snapshot()["stations"] == {}
    assert state.snapshot()["rotations"] == {}


def test_foreign_topics_change_nothing() -> None:
    state = wall()
    before = state.snapshot()
    assert state.apply("$SYS/broker/load", {"value": 1}, NOW) == []
    assert state.apply("other/stations/1/state", {"name": "x"}, NOW) == []
    assert state.snapshot() == before


def test_printer_states_become_tiles() -> None:
    state = wall()
    assert T.parse("librarylab/duesseldorf/printers/2/state") == ("printer_state", 2)
    assert state.apply(
        T.printer_state(2), {"id": 2, "name": "Prusa", "state": "printing", "progress": 41.5}, NOW
    ) == ["printer:2"]
    assert state.snapshot()["printers"]["2"]["progress"] == 41.5
    state.apply(T.printer_state(2), None, NOW)
    assert state.snapshot()["printers"] == {}
