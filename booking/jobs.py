"""Periodic tasks of the visit programme: every minute each task runs in its own
transaction, with the time as an argument.

Every instance on a database runs them, so a task must be idempotent (see
:func:`booking.correspondence.queue_due_mails`). A failing task is logged by the type of
its error alone (an error's text may quote a mail or an address) and tried again next
time; the others run regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from booking import correspondence, intake, privacy
from librarylab.database import transaction
from librarylab.settings import Settings

log = logging.getLogger(__name__)

Task = Callable[[Session, datetime, Settings], int]
Clock = Callable[[], datetime]

# What runs every minute, in this order; add a task with one line.
TASKS: tuple[Task, ...] = (
    intake.expire_unconfirmed,  # requests nobody confirmed within 48 h
    correspondence.queue_due_mails,  # reminders and follow-ups
    privacy.erase_expired,  # contacts of visits older than personal_data_months
)
INTERVAL_SECONDS = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


def _name(task: Task) -> str:
    return f"{getattr(task, '__module__', '?')}.{getattr(task, '__qualname__', repr(task))}"


class Jobs:
    """Runs ``tasks`` every ``interval`` seconds, each in a transaction of its own."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        tasks: Sequence[Task] = TASKS,
        *,
        interval: float = INTERVAL_SECONDS,
        clock: Clock = _now,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self.tasks = tuple(tasks)
        self._interval = interval
        self._clock = clock
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def run_once(self) -> int:
        """Run every task once; the sum of what they report (mails queued, …)."""
        total = 0
        for task in self.tasks:
            try:
                with transaction(self._sessions) as session:
                    total += task(session, self._clock(), self._settings)
            except Exception as exc:  # the next run tries again; the other tasks go on
                log.error("periodic task %s failed: %s", _name(task), type(exc).__name__)
        return total

    async def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="booking-jobs")

    def wake(self) -> None:
        """Run the tasks now (callable from any thread)."""
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
                await asyncio.to_thread(self.run_once)
            except Exception as exc:  # run_once catches the tasks' errors; this is a bug
                log.error("periodic tasks: unexpected %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._interval)

    async def stop(self) -> None:
        """Let a running round finish (its thread holds a connection that the database's
        shutdown would otherwise strand), then end."""
        if self._task is not None:
            self._stopping = True
            self.wake()
            await asyncio.shield(self._task)
            self._task = None
