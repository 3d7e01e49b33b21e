"""Periodic tasks of the visit programme: every minute each task runs in its own
transaction, with the time as an argument.

Every instance on a database runs them, so a task must be idempotent (see
:func:`booking.correspondence.queue_due_mails`). A failing task is logged by the type of
its error alone (an error's text may quote a mail or an address) and tried again next
time; the others run regardless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from booking import correspondence, intake, privacy
from librarylab.database import transaction
from librarylab.settings import Settings
from librarylab.ticker import Ticker

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


class Jobs(Ticker):
    """Runs ``tasks`` every ``interval`` seconds, each in a transaction of its own."""

    name = "booking-jobs"

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
        self._clock = clock
        # Each task that failed in the last round, with its error's type (for the health check).
        self.failing: dict[str, str] = {}
        self.last_round_at: datetime | None = None
        super().__init__(interval)

    def tick(self) -> int:
        return self.run_once()

    def run_once(self) -> int:
        """Run every task once; the sum of what they report (mails queued, …)."""
        total = 0
        failing = {}
        for task in self.tasks:
            try:
                with transaction(self._sessions) as session:
                    total += task(session, self._clock(), self._settings)
            except Exception as exc:  # the next run tries again; the other tasks go on
                failing[_name(task)] = type(exc).__name__
                log.error("periodic task %s failed: %s", _name(task), type(exc).__name__)
        self.failing = failing
        self.last_round_at = self._clock()
        return total
