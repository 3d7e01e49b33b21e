"""Hands the wall state to every open wall page, live.

MQTT messages arrive on paho's thread and are handed to the event loop; each page has its
own queue; a one-second tick expires old heartbeats and notices a lost broker. A message
that does not fit its topic's schema is dropped and counted (``dropped``), with a warning
at most once a minute per topic and never its payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dashboard.state import Rejected, WallState
from dashboard.topics import Topics
from librarylab.logs import Throttle, shown

log = logging.getLogger(__name__)
Event = tuple[str, Any]  # (event name, data)
QUEUE_LIMIT = 1000


class Hub:
    def __init__(
        self, topics: Topics, max_heartbeat_age: float, broker_connected: Callable[[], bool]
    ) -> None:
        self.state = WallState(topics, max_heartbeat_age)
        self._broker_connected = broker_connected
        self._broker_up: bool | None = None
        self._broker_since = datetime.now(UTC)
        self._pages: set[asyncio.Queue[Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.dropped = 0  # messages refused by their schema
        self._warnings = Throttle()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for queue in list(self._pages):
            self._offer(queue, ("bye", None))

    # -- from paho's thread --------------------------------------------------------------
    def receive(self, topic: str, payload: dict[str, Any] | None) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._apply, topic, payload)

    # -- on the loop -------------------------------------------------------------------------
    def _apply(self, topic: str, payload: dict[str, Any] | None) -> None:
        try:
            changed = self.state.apply(topic, payload, datetime.now(UTC))
        except Rejected as exc:
            self.dropped += 1
            self._warnings.warn(
                log,
                topic,
                f"dropped an MQTT message on {shown(topic)} that does not fit its schema ({exc})",
            )
            return
        for key in changed:
            self._broadcast(("part", {"key": key, "value": self.state.part(key)}))

    async def _tick(self) -> None:
        while True:
            try:
                self._step(datetime.now(UTC))
            except Exception:  # one bad step must not stop the clock of every wall
                log.exception("the wall's tick failed; it goes on")
            await asyncio.sleep(1)

    def _step(self, now: datetime) -> None:
        for key in self.state.expire(now):
            self._broadcast(("part", {"key": key, "value": self.state.part(key)}))
        up = self._broker_connected()
        if up != self._broker_up:
            self._broker_up, self._broker_since = up, now
            self._broadcast(("broker", self.broker()))

    @property
    def alive(self) -> bool:
        """The tick runs (it expires heartbeats and notices a lost broker)."""
        return self._ticker is not None and not self._ticker.done()

    def broker(self) -> dict[str, Any]:
        return {"connected": bool(self._broker_up), "since": self._broker_since.isoformat()}

    def _broadcast(self, event: Event) -> None:
        for queue in list(self._pages):
            self._offer(queue, event)

    def _offer(self, queue: asyncio.Queue[Event], event: Event) -> None:
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:  # a stuck page: make it start over with a snapshot
            self._pages.discard(queue)
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(("bye", None))

    def join(self) -> asyncio.Queue[Event]:
        """A new page: its queue starts with the full snapshot and the broker state."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_LIMIT)
        queue.put_nowait(("snapshot", self.state.snapshot()))
        queue.put_nowait(("broker", self.broker()))
        self._pages.add(queue)
        return queue

    def recheck_viewers(self) -> None:
        """Make every open stream ask at once whether its link or login still holds."""
        self._broadcast(("recheck", None))

    def leave(self, queue: asyncio.Queue[Event]) -> None:
        self._pages.discard(queue)

    @property
    def pages(self) -> int:
        return len(self._pages)
