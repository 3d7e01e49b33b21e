"""The hub's clock: it keeps ticking whatever one step meets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from dashboard.hub import Hub
from dashboard.topics import Topics

T = Topics("lab")


def test_after_a_heartbeat_without_offset_other_stations_still_go_offline_on_time() -> None:
    async def scenario() -> dict[int, str]:
        hub = Hub(T, max_heartbeat_age=1, broker_connected=lambda: True)
        await hub.start()
        try:
            naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
            hub._apply(T.station_heartbeat(3), {"state": "online", "ts": naive})
            hub._apply(
                T.station_heartbeat(4), {"state": "online", "ts": datetime.now(UTC).isoformat()}
            )
            await asyncio.sleep(2.5)
            assert hub.alive
            return {n: hub.state.part(f"station:{n}")["agent"] for n in (3, 4)}
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) == {3: "offline", 4: "offline"}


def test_the_tick_survives_a_failing_step(caplog: pytest.LogCaptureFixture) -> None:
    calls = [0]

    def connected() -> bool:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("the bus broke")
        return True

    async def scenario() -> bool:
        hub = Hub(T, max_heartbeat_age=1, broker_connected=connected)
        await hub.start()
        try:
            stamp = datetime.now(UTC).isoformat()
            hub._apply(T.station_heartbeat(4), {"state": "online", "ts": stamp})
            await asyncio.sleep(2.5)
            assert hub.state.part("station:4")["agent"] == "offline"
            return hub.alive
        finally:
            await hub.stop()

    assert asyncio.run(scenario())
    assert "the wall's tick failed" in caplog.text


def test_refused_messages_are_counted_and_their_payload_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub(T, max_heartbeat_age=1, broker_connected=lambda: True)
    secret = "<img src=x onerror=steal()>"
    for _ in range(5):
        hub._apply(T.printer_state(2), {"id": secret, "name": "x", "state": "printing"})
    hub._apply(T.station_state(3), {"id": 3, "name": secret})
    assert hub.dropped == 6
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2  # once per topic
    assert secret not in caplog.text
    assert hub.state.snapshot()["printers"] == {}
