"""One coordinator per printer: the only code that talks to its OctoPrint.

It keeps a snapshot (polled about every second while printing, every few seconds when idle),
says "offline" after a few seconds without a good read and "stalled" when a print's progress
freezes, hands each fresh snapshot to the dispatcher (``after_poll``), and every change to
``publish`` (the MQTT topic of the printer). Everything else reads the snapshots.

Staff actions that need the printer (cancel a print, ask before a retry) are errands handed
to the coordinator (``Fleet.on_printer``): it runs them between two looks. Every OctoPrint
call of a printer — looks, dispatcher steps, errands — runs on that printer's one thread, so
its HTTP session is never used by two threads at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from librarylab.errors import Conflict, Unavailable
from printers.model import (
    KEY_SEALED,
    KEY_SEALED_DETAIL,
    OFFLINE,
    OPERATIONAL,
    PRINTING,
    SILENT,
    UNKNOWN,
    Duty,
    Snapshot,
    after_failure,
    from_octoprint,
    judged,
)
from printers.networks import Network
from printers.octoprint import OctoPrintClient, PrinterError, Unauthorized

log = logging.getLogger(__name__)
Publish = Callable[["Target", Snapshot, Duty | None], None]
AfterPoll = Callable[[int, OctoPrintClient, Snapshot], Duty | None]
T = TypeVar("T")
NO_ANSWER = "OctoPrint does not answer"
# The next look after a failed one comes this long after the silence reaches offline_after.
OFFLINE_MARGIN = 0.05
Errand = Callable[[OctoPrintClient], T]


@dataclass(frozen=True)
class Target:
    """Where a printer is, as the registry says (the key already unsealed)."""

    id: int
    name: str
    url: str
    # Never in a log line or a test's output. None: sealed under another secret key, so
    # OctoPrint is not asked (an empty key would only be refused, as if it were wrong).
    api_key: str | None = field(repr=False)


@dataclass(frozen=True)
class Timing:
    busy_seconds: float = 1.0
    idle_seconds: float = 3.0
    offline_after: float = 5.0
    stall_after: float = 60.0
    request_timeout: float = 3.0

    @property
    def errand_timeout(self) -> float:
        """How long staff wait for an errand: the look or step the coordinator may be in,
        then the errand's own requests, each at most ``request_timeout``."""
        return 5 * self.request_timeout + 2


class Coordinator:
    def __init__(
        self,
        target: Target,
        timing: Timing,
        publish: Publish,
        after_poll: AfterPoll | None = None,
        networks: tuple[Network, ...] = (),
    ) -> None:
        self.target = target
        self.timing = timing
        self.publish = publish
        self.after_poll = after_poll
        self.snapshot = Snapshot()
        self.duty: Duty | None = None
        self.client = OctoPrintClient(
            target.url, target.api_key or "", timeout=timing.request_timeout, networks=networks
        )
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"printer-{target.id}")
        self._errands: SimpleQueue[tuple[Errand[Any], Future[Any]]] = SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"printer-{self.target.id}")

    def ask(self, errand: Errand[T]) -> Future[T]:
        """Run ``errand`` with the printer's client on its thread, before the next look.
        Callable from any thread; the future holds the errand's result or exception."""
        future: Future[T] = Future()
        self._errands.put((errand, future))
        if self._stopping or self._loop is None:  # nobody will run it
            self._refuse_errands()
            return future
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the event loop has closed
            self._refuse_errands()
        return future

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
        self._refuse_errands()
        self._thread.shutdown(wait=False)  # a call still under way ends by its own timeout

    def _refuse_errands(self) -> None:
        while True:
            try:
                _errand, future = self._errands.get_nowait()
            except Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(_not_followed())

    async def _serve_errands(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                errand, future = self._errands.get_nowait()
            except Empty:
                return
            if future.set_running_or_notify_cancel():  # else the asker gave up waiting
                await loop.run_in_executor(self._thread, _run_errand, errand, self.client, future)

    async def poll(self) -> Snapshot:
        """Ask OctoPrint once and fold the answer into the snapshot."""
        now = datetime.now(UTC)
        if self.target.api_key is None:
            after = replace(self.snapshot, state=KEY_SEALED, detail=KEY_SEALED_DETAIL)
        else:
            after = await self._look(now)
        before = self.snapshot  # what was said last (a look that overran may have said offline)
        after = judged(after, now, self.timing.stall_after)
        if after.state != before.state:
            log.info(
                "printer %d: %s → %s %s", self.target.id, before.state, after.state, after.detail
            )
        self.snapshot = after
        duty = self.duty
        # Only news counts as evidence about jobs: a failed read that still shows the last
        # good answer (silence shorter than ``offline_after``) says nothing new.
        news = after.last_read == now or after.state in SILENT
        if self.after_poll is not None and news:
            duty = await asyncio.get_running_loop().run_in_executor(
                self._thread, self.after_poll, self.target.id, self.client, after
            )
        if _shown(after) != _shown(before) or (duty is not None and duty != self.duty):
            self.duty = duty or self.duty
            self.publish(self.target, after, self.duty)
        return after

    async def _look(self, now: datetime) -> Snapshot:
        """OctoPrint's status folded into the snapshot. A look still waiting for an answer
        when the printer has been silent for ``offline_after`` says "offline" at that moment,
        not only when its requests time out (a hung server answers nothing, slowly)."""
        look = asyncio.get_running_loop().run_in_executor(self._thread, self.client.status)
        left = self.until_offline()
        if left is not None:
            done, _pending = await asyncio.wait({look}, timeout=max(left, 0))
            if not done:
                silent = replace(self.snapshot, state=OFFLINE, detail=NO_ANSWER)
                state = self.snapshot.state
                log.info("printer %d: %s → offline (no answer)", self.target.id, state)
                self.snapshot = silent
                self.publish(self.target, silent, self.duty)
        try:
            raw = await look
        except PrinterError as exc:
            return after_failure(
                self.snapshot,
                unauthorized=isinstance(exc, Unauthorized),
                reason=str(exc),
                now=now,
                offline_after=self.timing.offline_after,
            )
        return from_octoprint(self.snapshot, raw, now)

    def until_offline(self) -> float | None:
        """Seconds until the silence since the last good read makes the printer offline;
        None when there was no good read yet, or it is offline already."""
        last = self.snapshot.last_read
        if last is None or self.snapshot.state == OFFLINE:
            return None
        silent = (datetime.now(UTC) - last).total_seconds()
        return self.timing.offline_after - silent

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the look: a wake-up during it means "look again"
            await self._serve_errands()
            try:
                snapshot = await self.poll()
            except Exception:  # a database hiccup must not end the printer's watch
                log.exception("printer %d: step failed", self.target.id)
                snapshot = self.snapshot
            job = self.duty.job if self.duty else None
            busy = snapshot.state in (PRINTING, OFFLINE) or (
                job is not None and job["state"] in ("uploading", "printing")
            )
            pause = self.timing.busy_seconds if busy else self.timing.idle_seconds
            left = self.until_offline()
            if left is not None and left < pause:
                # The next look comes when the silence would reach offline_after, so that a
                # printer that stopped answering is "offline" then, not a whole pause later.
                pause = max(left, 0) + OFFLINE_MARGIN
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)


def _shown(snapshot: Snapshot) -> Snapshot:
    """What the wall shows of a snapshot. A good read that changed nothing else is not
    published: every printer's every look became a retained MQTT message (which the
    embedded broker also writes to its store), and the wall reads the time of the last
    good read only from an offline printer's message, which carries it."""
    return replace(snapshot, last_read=None)


def _not_followed() -> Conflict:
    return Conflict("The job's printer is not followed; try again in a moment.")


def _run_errand(errand: Errand[T], client: OctoPrintClient, future: Future[T]) -> None:
    """On the printer's thread; the outcome goes to whoever waits for it."""
    try:
        result = errand(client)
    except Exception as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


class Fleet:
    """The coordinators of all registered printers, kept in step with the registry.

    Syncs run one at a time, each reading the registry afresh (``targets``), and changes that
    arrive during a sync are folded into one more: a sync that read an older registry can
    never start a coordinator for a printer deleted meanwhile.
    """

    def __init__(
        self,
        timing: Timing,
        publish: Publish,
        targets: Callable[[], list[Target] | None],
        after_poll: AfterPoll | None = None,
        networks: tuple[Network, ...] = (),
    ) -> None:
        self.timing = timing
        self.publish = publish
        self.after_poll = after_poll
        self.networks = networks  # the only networks its printers may be in; () is any
        self._targets = targets  # blocking; None when the registry cannot be read
        self._coordinators: dict[int, Coordinator] = {}
        self._lock = asyncio.Lock()
        self._behind = False
        self._catching_up: asyncio.Task[None] | None = None
        self._closed = False

    def snapshot(self, printer_id: int) -> Snapshot | None:
        coordinator = self._coordinators.get(printer_id)
        return coordinator.snapshot if coordinator else None

    def states(self) -> list[tuple[Target, Snapshot]]:
        # A copy: request threads read while a sync on the event loop changes the dict.
        return [(c.target, c.snapshot) for c in self._coordinators.copy().values()]

    def on_printer(self, printer_id: int, errand: Errand[T]) -> T:
        """Have the printer's coordinator run ``errand`` and wait for its result. Blocks: call
        it from a worker thread (a plain ``def`` route), never from the event loop."""
        coordinator = self._coordinators.get(printer_id)
        if coordinator is None:
            raise _not_followed()
        future = coordinator.ask(errand)
        seconds = self.timing.errand_timeout
        try:
            return future.result(timeout=seconds)
        except TimeoutError:
            name, waited = coordinator.target.name, f"{seconds:g}"
            if future.cancel():
                raise Unavailable(
                    "Printer {name} did not get to it within {seconds} s (OctoPrint may be "
                    "slow or unreachable); nothing was changed: try again.",
                    name=name,
                    seconds=waited,
                ) from None
            raise Unavailable(
                "Printer {name} is still at it after {seconds} s (OctoPrint is slow); reload "
                "in a moment to see whether it went through.",
                name=name,
                seconds=waited,
            ) from None

    def wake(self, printer_id: int | None = None) -> None:
        """Look again now (call from the event loop): the printer ``printer_id``, or else
        every printer that could take a job (idle, or not asked yet). The others could not
        start one and show any change at their next look; waking them too made each queued
        job cost a look at every printer of the fleet."""
        if printer_id is not None:
            if coordinator := self._coordinators.get(printer_id):
                coordinator.wake()
            return
        for coordinator in self._coordinators.values():
            if coordinator.snapshot.state in (OPERATIONAL, UNKNOWN):
                coordinator.wake()

    def changed(self) -> None:
        """The registry changed: sync soon (call from the event loop). One kept task syncs,
        and once more for all changes that came in while it ran."""
        if self._closed:
            return
        self._behind = True
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._catch_up(), name="printer-fleet-sync")

    async def _catch_up(self) -> None:
        while self._behind and not self._closed:
            self._behind = False
            try:
                await self.sync()
            except Exception:  # the next change tries again
                log.exception("printers: cannot follow the registry")

    async def sync(self) -> None:
        """Read the registry, start coordinators for new or changed printers and stop those
        that are gone; one sync at a time."""
        async with self._lock:
            if self._closed:
                return
            targets = await asyncio.to_thread(self._targets)
            if targets is None:  # the registry cannot be read: keep following what we follow
                return
            wanted = {t.id: t for t in targets}
            for printer_id in list(self._coordinators):
                if (
                    printer_id not in wanted
                    or self._coordinators[printer_id].target != wanted[printer_id]
                ):
                    await self._coordinators.pop(printer_id).stop()
            for printer_id, target in wanted.items():
                if printer_id not in self._coordinators:
                    coordinator = Coordinator(
                        target, self.timing, self.publish, self.after_poll, self.networks
                    )
                    self._coordinators[printer_id] = coordinator
                    coordinator.start()

    async def stop(self) -> None:
        self._closed = True
        if self._catching_up is not None:
            await self._catching_up  # ends with the sync under way
        async with self._lock:
            for coordinator in self._coordinators.values():
                await coordinator.stop()
            self._coordinators.clear()
