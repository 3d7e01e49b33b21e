"""One coordinator per printer: the only code that polls OctoPrint.

It keeps a snapshot (polled about every second while printing, every few seconds when idle),
says "offline" after a few seconds without a good read and "stalled" when a print's progress
freezes, hands each fresh snapshot to the dispatcher (``after_poll``), and every change to
``publish`` (the MQTT topic of the printer). Everything else reads the snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from printers.model import (
    OFFLINE,
    PRINTING,
    UNAUTHORIZED,
    Duty,
    Snapshot,
    after_failure,
    from_octoprint,
    judged,
)
from printers.octoprint import OctoPrintClient, PrinterError, Unauthorized

log = logging.getLogger(__name__)
Publish = Callable[["Target", Snapshot, Duty | None], None]
AfterPoll = Callable[[int, OctoPrintClient, Snapshot], Duty | None]


@dataclass(frozen=True)
class Target:
    """Where a printer is, as the registry says (the key already unsealed)."""

    id: int
    name: str
    url: str
    api_key: str = field(repr=False)  # never in a log line or a test's output


@dataclass(frozen=True)
class Timing:
    busy_seconds: float = 1.0
    idle_seconds: float = 3.0
    offline_after: float = 5.0
    stall_after: float = 60.0
    request_timeout: float = 3.0


class Coordinator:
    def __init__(
        self,
        target: Target,
        timing: Timing,
        publish: Publish,
        after_poll: AfterPoll | None = None,
    ) -> None:
        self.target = target
        self.timing = timing
        self.publish = publish
        self.after_poll = after_poll
        self.snapshot = Snapshot()
        self.duty: Duty | None = None
        self.client = OctoPrintClient(target.url, target.api_key, timeout=timing.request_timeout)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"printer-{self.target.id}")

    def wake(self) -> None:
        """Look at the printer now (a job was queued, a bed confirmed clear)."""
        self._wake.set()

    async def stop(self) -> None:
        """Let the running look finish (it may hold a database connection), then end."""
        self._stopping = True
        self._wake.set()
        if self._task:
            try:
                await asyncio.wait_for(self._task, 3 * self.timing.request_timeout + 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def poll(self) -> Snapshot:
        """Ask OctoPrint once and fold the answer into the snapshot."""
        now = datetime.now(UTC)
        before = self.snapshot
        try:
            raw = await asyncio.to_thread(self.client.status)
        except PrinterError as exc:
            after = after_failure(
                before,
                unauthorized=isinstance(exc, Unauthorized),
                reason=str(exc),
                now=now,
                offline_after=self.timing.offline_after,
            )
        else:
            after = from_octoprint(before, raw, now)
        after = judged(after, now, self.timing.stall_after)
        if after.state != before.state:
            log.info(
                "printer %d: %s → %s %s", self.target.id, before.state, after.state, after.detail
            )
        self.snapshot = after
        duty = self.duty
        # Only news counts as evidence about jobs: a failed read that still shows the last
        # good answer (silence shorter than ``offline_after``) says nothing new.
        news = after.last_read == now or after.state in (OFFLINE, UNAUTHORIZED)
        if self.after_poll is not None and news:
            duty = await asyncio.to_thread(self.after_poll, self.target.id, self.client, after)
        if after != before or (duty is not None and duty != self.duty):
            self.duty = duty or self.duty
            self.publish(self.target, after, self.duty)
        return after

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the look: a wake-up during it means "look again"
            try:
                snapshot = await self.poll()
            except Exception:  # a database hiccup must not end the printer's watch
                log.exception("printer %d: step failed", self.target.id)
                snapshot = self.snapshot
            job = self.duty.job if self.duty else None
            busy = snapshot.state in (PRINTING, OFFLINE) or (
                job is not None and job["state"] in ("uploading", "printing")
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(),
                    self.timing.busy_seconds if busy else self.timing.idle_seconds,
                )


class Fleet:
    """The coordinators of all registered printers, kept in step with the registry."""

    def __init__(
        self, timing: Timing, publish: Publish, after_poll: AfterPoll | None = None
    ) -> None:
        self.timing = timing
        self.publish = publish
        self.after_poll = after_poll
        self._coordinators: dict[int, Coordinator] = {}

    def snapshot(self, printer_id: int) -> Snapshot | None:
        coordinator = self._coordinators.get(printer_id)
        return coordinator.snapshot if coordinator else None

    def states(self) -> list[tuple[Target, Snapshot]]:
        return [(c.target, c.snapshot) for c in self._coordinators.values()]

    def client(self, printer_id: int) -> OctoPrintClient | None:
        coordinator = self._coordinators.get(printer_id)
        return coordinator.client if coordinator else None

    def wake(self) -> None:
        """Every printer looks again now (call from the event loop)."""
        for coordinator in self._coordinators.values():
            coordinator.wake()

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
                coordinator = Coordinator(target, self.timing, self.publish, self.after_poll)
                self._coordinators[printer_id] = coordinator
                coordinator.start()

    async def stop(self) -> None:
        for coordinator in self._coordinators.values():
            await coordinator.stop()
        self._coordinators.clear()
