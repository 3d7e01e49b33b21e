"""The hub: what it refuses, and its clock."""

from __future__ import annotations

import pytest

from dashboard.hub import Hub
from dashboard.topics import Topics

T = Topics("lab")


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
