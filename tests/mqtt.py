"""A test-side MQTT listener that records what arrives."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from librarylab.mqtt import BrokerAddress, Bus
from librarylab.mqtt_access import SERVICE_USER, BrokerAccounts, local_url


def embedded_url(data_dir: Path, port: int | str) -> str:
    """The embedded broker of the service with ``data_dir``, as the service's own account.

    The account is made here if the service has not started yet (it keeps that one)."""
    return local_url(int(port), SERVICE_USER, BrokerAccounts(data_dir).service_password())


class Recorder:
    """Subscribes to a filter and keeps every message, for assertions with a deadline."""

    def __init__(self, url: str, topic_filter: str) -> None:
        self.messages: list[tuple[str, dict[str, Any] | None]] = []
        self._arrived = threading.Condition()
        self.bus = Bus(
            BrokerAddress.parse(url),
            client_id=f"test-{uuid.uuid4().hex[:6]}",
            status_topic=None,
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


def publish_retained(
    url: str, messages: Iterable[tuple[str, dict[str, Any]]], watch: str, client_id: str
) -> None:
    """Publish retained ``messages`` in their order, and return once the broker holds them
    all (a recorder on ``watch`` has seen each)."""
    messages = list(messages)
    witness = Recorder(url, watch)
    bus = Bus(BrokerAddress.parse(url), client_id=client_id, status_topic=None)
    bus.start()
    deadline = time.monotonic() + 10
    while not bus.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        for topic, payload in messages:
            assert bus.publish(topic, payload, retain=True), topic
        for topic, _payload in messages:
            witness.wait_for(topic)
    finally:
        bus.stop()
        witness.close()
