"""A test-side MQTT listener that records what arrives."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from librarylab.mqtt import BrokerAddress, Bus


class Recorder:
    """Subscribes to a filter and keeps every message, for assertions with a deadline."""

    def __init__(self, url: str, topic_filter: str) -> None:
        self.messages: list[tuple[str, dict[str, Any] | None]] = []
        self._arrived = threading.Condition()
        self.bus = Bus(
            BrokerAddress.parse(url),
            client_id=f"test-{uuid.uuid4().hex[:6]}",
            status_topic=f"test/{uuid.uuid4().hex[:6]}/status",
        )
        self.bus.subscribe(topic_filter, self._keep)
        self.bus.start()

    def _keep(self, topic: str, payload: dict[str, Any] | None) -> None:
        with self._arrived:
            self.messages.append((topic, payload))
            self._arrived.notify_all()

    def wait_for(
        self, topic: str, predicate: Callable[[Any], bool] = lambda p: True, timeout: float = 10
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for seen, payload in reversed(self.messages):
                    if seen == topic and predicate(payload):
                        found: dict[str, Any] | None = payload
                        return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"nothing matching on {topic} within {timeout} s: {self.messages[-5:]}"
                    )
                self._arrived.wait(left)

    def close(self) -> None:
        self.bus.stop()
