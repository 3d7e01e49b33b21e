"""A background worker of the service: it runs its round in a thread when woken and every
few seconds, and stops only after a running round has ended (the round's thread holds a
database connection that the engine's disposal at shutdown would otherwise strand)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class Ticker:
    """Subclasses give :meth:`tick` (blocking work) and may log failures in :meth:`failed`."""

    name = "ticker"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def tick(self) -> object:
        raise NotImplementedError

    def failed(self, exc: Exception) -> None:
        """A round raised: log the error's type only (its text may quote mail or data)."""
        log.error("%s: unexpected %s", self.name, type(exc).__name__)

    async def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run a round now (callable from any thread)."""
        if self._loop is not None and self._wakeup is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        assert self._wakeup is not None
        while not self._stopping:
            self._wakeup.clear()
            try:
                await asyncio.to_thread(self.tick)
            except Exception as exc:  # the next round tries again
                self.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._interval)

    async def stop(self) -> None:
        """Let a running round end, then stop."""
        if self._task is not None:
            self._stopping = True
            self.wake()
            await asyncio.shield(self._task)
            self._task = None
