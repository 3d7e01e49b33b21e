"""The wall's state as a pure reducer of MQTT messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard.state import Rejected, WallState
from dashboard.topics import Topics

T = Topics("librarylab/duesseldorf")
NOW = datetime(2018, 4, 16, 9, 30, tzinfo=UTC)


def wall() -> WallState:
    return WallState(T, max_heartbeat_age=30)


def station(number: int, **fields: Any) -> dict[str, Any]:
    """A station's state as the service publishes it."""
    return {
        "id": number,
        "name": "Xbox One",
        "kind": "gaming",
        "capacity": 4,
        "status": "available",
        "status_reason": "",
        "current_group": None,
        "visit_id": None,
        "ts": NOW.isoformat(),
        "v": 1,
    } | fields


def printer(number: int, **fields: Any) -> dict[str, Any]:
    """A printer's state as its coordinator publishes it."""
    return {
        "id": number,
        "name": "Prusa",
        "state": "printing",
        "detail": "",
        "file": "x.gcode",
        "progress": 41.5,
        "elapsed_seconds": 310,
        "left_seconds": 420,
        "nozzle": [214.8, 215.0],
        "bed": [59.9, None],
        "last_read": NOW.isoformat(),
        "progress_since": NOW.isoformat(),
        "bed_clear": False,
        "job": {
            "id": 41,
            "state": "printing",
            "file": "Boot",
            "visit_id": 12,
            "group_id": 2,
            "group": "B",
        },
        "ts": NOW.isoformat(),
        "v": 1,
    } | fields


def rotation(visit_id: int, **fields: Any) -> dict[str, Any]:
    start, end = NOW.isoformat(), (NOW + timedelta(minutes=20)).isoformat()
    assignment = {
        "group_id": 1,
        "group": "A",
        "size": 3,
        "station_id": 3,
        "station": "Xbox",
        "kind": "gaming",
    }
    return {
        "visit_id": visit_id,
        "library": "Stadtbücherei Eschweiler",
        "groups": [{"id": 1, "name": "A", "size": 3}],
        "slots": [{"index": 0, "start": start, "end": end, "assignments": [assignment]}],
        "now": {
            "slot": 0,
            "next_change": end,
            "groups": [{"group": "A", "current": "Xbox", "next": None}],
        },
    } | fields


def visit(**fields: Any) -> dict[str, Any]:
    return {
        "id": 12,
        "library": "Stadtbücherei Eschweiler",
        "town": "Eschweiler",
        "topic": "Gaming",
        "participants": 9,
        "date": "2018-04-16",
        "start": "10:00",
        "end": "14:00",
        "hands_on_start": "11:00",
        "hands_on_end": "12:30",
    } | fields


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
    assert state.apply(T.station_state(3), station(3), NOW) == ["station:3"]
    stamp = (NOW - timedelta(seconds=4)).isoformat()
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": stamp}, NOW)
    card = state.part("station:3")
    assert (card["name"], card["agent"], card["last_seen"]) == ("Xbox One", "online", stamp)


def test_a_station_card_carries_how_many_take_turns_there() -> None:
    state = wall()
    state.apply(T.station_state(3), station(3), NOW)
    assert state.part("station:3")["max_group"] is None
    state.apply(T.station_state(3), station(3, max_group=6), NOW)
    assert (state.part("station:3")["capacity"], state.part("station:3")["max_group"]) == (4, 6)


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
    state.apply(T.station_state(3), station(3), NOW)
    state.apply(T.rotation(7), rotation(7), NOW)
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
    assert state.apply(T.printer_state(2), printer(2), NOW) == ["printer:2"]
    assert state.snapshot()["printers"]["2"]["progress"] == 41.5
    state.apply(T.printer_state(2), None, NOW)
    assert state.snapshot()["printers"] == {}


def test_every_topic_kind_takes_what_the_service_sends() -> None:
    state = wall()
    state.apply(T.service_status, {"state": "online", "ts": NOW.isoformat(), "v": 1}, NOW)
    state.apply(T.station_state(3), station(3), NOW)
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": NOW.isoformat(), "v": 1}, NOW)
    state.apply(T.printer_state(2), printer(2), NOW)
    state.apply(T.rotation(7), rotation(7), NOW)
    state.apply(T.current_visit, {"current": visit(), "next": None, "today": [visit()]}, NOW)
    seen = state.snapshot()
    assert seen["service"]["state"] == "online"
    assert seen["stations"]["3"]["agent"] == "online"
    assert seen["printers"]["2"]["job"]["group"] == "B"
    assert seen["rotations"]["7"]["slots"][0]["assignments"][0]["station"] == "Xbox"
    assert seen["current"]["today"][0]["library"] == "Stadtbücherei Eschweiler"


HUGE = "x" * 20_000
HOSTILE_ID = '902"><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        # not a JSON object
        (T.station_state(3), ["Xbox One"]),
        (T.printer_state(2), "printing"),
        (T.station_heartbeat(3), 1),
        (T.current_visit, {"raw": "not json"}),
        # the id does not match the topic
        (T.printer_state(902), printer(902, id=HOSTILE_ID)),
        (T.printer_state(902), printer(903)),
        (T.station_state(3), station(4)),
        (T.rotation(7), rotation(8)),
        # wrong types (no coercion: "42" is no number, true no id)
        (T.printer_state(2), printer(2, id="2")),
        (T.printer_state(2), printer(2, progress="42")),
        (T.printer_state(2), printer(2, progress='50"><img src=x onerror=alert(1)>')),
        (T.printer_state(2), printer(2, nozzle="hot")),
        (T.printer_state(2), printer(2, bed_clear="no")),
        (T.station_state(3), station(True)),
        (T.station_state(3), station(3, name=["Xbox"])),
        (T.rotation(7), rotation(7, groups=[{"id": 1, "name": "A", "size": "<img>"}])),
        (T.service_status, {"state": {"online": True}}),
        # out of range or not one of the known words
        (T.printer_state(2), printer(2, progress=-1)),
        (T.printer_state(2), printer(2, progress=100.5)),
        (T.printer_state(2), printer(2, left_seconds=-5)),
        (T.printer_state(2), printer(2, nozzle=[1e9, 0])),
        (T.printer_state(2), printer(2, nozzle=[215.0])),
        (T.printer_state(2), printer(2, state="<b>melting</b>")),
        (T.station_state(3), station(3, capacity=-1)),
        (T.station_state(3), station(3, max_group="6")),
        (T.station_state(3), station(3, kind="<script>")),
        (T.station_heartbeat(3), {"state": "alive"}),
        (T.station_heartbeat(3), {"state": "online", "ts": "yesterday"}),
        (T.rotation(7), rotation(7, groups=[{"id": 1, "name": "A", "size": -3}])),
        (T.current_visit, {"current": visit(start="25:99"), "next": None, "today": []}),
        # huge strings and lists
        (T.station_state(3), station(3, name=HUGE)),
        (T.printer_state(2), printer(2, detail=HUGE)),
        (T.rotation(7), rotation(7, groups=[{"id": 1, "name": "A", "size": 3}] * 1000)),
        # slot times without a UTC offset would mean the browser's own time zone
        (T.rotation(7), rotation(7, now={"slot": None, "next_change": "2018-04-16T11:00"})),
        # required fields missing
        (T.printer_state(2), {"id": 2}),
        (T.station_state(3), {"name": "Xbox One"}),
        (T.current_visit, {}),
    ],
)
def test_messages_that_do_not_fit_their_topic_are_refused_whole(
    topic: str, payload: object
) -> None:
    state = wall()
    state.apply(T.station_state(3), station(3), NOW)
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": NOW.isoformat()}, NOW)
    state.apply(T.printer_state(2), printer(2), NOW)
    state.apply(T.printer_state(902), printer(902), NOW)
    state.apply(T.rotation(7), rotation(7), NOW)
    state.apply(T.current_visit, {"current": visit(), "next": None, "today": []}, NOW)
    state.apply(T.service_status, {"state": "online"}, NOW)
    before = state.snapshot()
    with pytest.raises(Rejected):
        state.apply(topic, payload, NOW)
    assert state.snapshot() == before  # the last good state stays


def test_fields_the_schema_does_not_know_never_reach_the_wall() -> None:
    state = wall()
    state.apply(T.printer_state(2), printer(2, url="http://10.0.0.5", extra=HUGE), NOW)
    tile = state.part("printer:2")
    assert "url" not in tile
    assert "extra" not in tile


def test_the_reason_for_a_refusal_names_the_field_not_its_value() -> None:
    with pytest.raises(Rejected) as refused:
        wall().apply(T.printer_state(2), printer(2, progress="<img src=x>"), NOW)
    assert "progress" in str(refused.value)
    assert "img" not in str(refused.value)


def test_a_heartbeat_without_a_utc_offset_counts_as_utc_and_others_still_expire() -> None:
    state = wall()
    naive = (NOW - timedelta(seconds=10)).replace(tzinfo=None).isoformat()
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": naive}, NOW)
    state.apply(T.station_heartbeat(4), {"state": "online", "ts": NOW.isoformat()}, NOW)
    assert state.part("station:3")["last_seen"] == (NOW - timedelta(seconds=10)).isoformat()
    assert state.expire(NOW + timedelta(seconds=25)) == ["station:3"]
    assert state.expire(NOW + timedelta(seconds=31)) == ["station:4"]


def test_a_heartbeat_from_the_future_counts_as_now() -> None:
    state = wall()
    ahead = (NOW + timedelta(days=365)).isoformat()
    state.apply(T.station_heartbeat(3), {"state": "online", "ts": ahead}, NOW)
    assert state.expire(NOW + timedelta(seconds=31)) == ["station:3"]
