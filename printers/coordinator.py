"""One coordinator per printer: the only code that polls OctoPrint.

It keeps a snapshot (polled about every second while printing, every few seconds when idle),
says "offline" after a few seconds without a good read and "stalled" when a print's progress
freezes, and hands every change to ``publish`` (the MQTT topic of the printer). Everything
else reads the snapshots; nothing else calls a printer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from printers.model import (
    OFFLINE,
    PRINTING,
    Snapshot,
    after_failure,
    from_octoprint,
    judged,
)
from printers.octoprint import OctoPrintClient, PrinterError, Unauthorized

log = logging.getLogger(__name__)
Publish = Callable[["Target", Snapshot], None]


@dataclass(frozen=True)
class Target:
    """Where a printer is, as the registry says (the key already unsealed)."""

    id: int
    name: str
    url: str
    api_key: str


@dataclass(frozen=True)
class Timing:
    busy_seconds: float = 1.0
    idle_seconds: float = 3.0
    offline_after: float = 5.0
    stall_after: float = 60.0
    request_timeout: float = 3.0


class Coordinator:
    def __init__(self, target: Target, timing: Timing, publish: Publish) -> None:
        self.target = target
        self.timing = timing
        self.publish = publish
        self.snapshot = Snapshot()
        self._client = OctoPrintClient(target.url, target.api_key, timeout=timing.request_timeout)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"printer-{self.target.id}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def poll(self) -> Snapshot:
        """Ask OctoPrint once and fold the answer into the snapshot."""
        now = datetime.now(UTC)
        before = self.snapshot
        try:
            raw = await asyncio.to_thread(self._client.status)
        except PrinterError as exc:
            after = after_failure(
                before,
                unauthorized=isinstance(exc, Unauthorized),
                reason=str(exc),
                now=now,
                offline_after=self.timing.offline_after,
            )
        else:
            after = from_octoprint(
                before,
                connection=raw.connection,
                error=raw.error,
                file=raw.file,
                completion=raw.completion,
                print_time=raw.print_time,
                print_time_left=raw.print_time_left,
                temperatures=raw.temperatures,
                now=now,
            )
        after = judged(after, now, self.timing.stall_after)
        if after.state != before.state:
            log.info(
                "printer %d: %s → %s %s", self.target.id, before.state, after.state, after.detail
            )
        self.snapshot = after
        if after != before:
            self.publish(self.target, after)
        return after

    async def _run(self) -> None:
        while True:
            snapshot = await self.poll()
            busy = snapshot.state == PRINTING or snapshot.state == OFFLINE
            await asyncio.sleep(self.timing.busy_seconds if busy else self.timing.idle_seconds)


class Fleet:
    """The coordinators of all registered printers, kept in step with the registry."""

    def __init__(self, timing: Timing, publish: Publish) -> None:
        self.timing = timing
        self.publish = publish
        self._coordinators: dict[int, Coordinator] = {}

    def snapshot(self, printer_id: int) -> Snapshot | None:
        coordinator = self._coordinators.get(printer_id)
        return coordinator.snapshot if coordinator else None

    async def sync(self, targets: list[Target]) -> None:
        """Start coordinators for new or changed printers, stop those that are gone."""
        wanted = {t.id: t for t in targets}
        for printer_id in list(self._coordinators):
            if (
                printer_id not in wanted
                or self._coordinators[printer_id].target != wanted[printer_id]
            ):
                await self._coordinators.pop(printer_id).stop()
        for printer_id, target in wanted.items():
            if printer_id not in self._coordinators:
                coordinator = Coordinator(target, self.timing, self.publish)
                self._coordinators[printer_id] = coordinator
                coordinator.start()

    async def stop(self) -> None:
        for coordinator in self._coordinators.values():
            await coordinator.stop()
        self._coordinators.clear()
