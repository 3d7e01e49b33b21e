"""The periodic tasks: each in its own transaction, a failure logged by its type alone and
survived, the service starts and stops them; and two instances on one PostgreSQL queue each
mail once."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from booking.correspondence import queue_due_mails
from booking.jobs import Jobs
from booking.model import RequestState
from booking.orm import VisitMail, VisitRequest
from librarylab import database
from librarylab.settings import Settings
from mail.orm import OutboxMail
from tests.booking.test_correspondence import VISIT_DAY, at, book, delivered, settings_of
from tests.conftest import Lab, _lab
from tests.mail.smtp_server import SmtpServer
from visits.orm import Round, Visit

SECRET_BODY = "Guten Tag anna@example.org, Ihr Link: /posts/1.geheim"


def _failing(session: Session, now: datetime, settings: Settings) -> int:
    session.add(Round(name="half-done"))  # must not stay
    session.flush()
    raise ValueError(SECRET_BODY)


def _counting(calls: list[datetime]) -> Callable[[Session, datetime, Settings], int]:
    def task(session: Session, now: datetime, settings: Settings) -> int:
        calls.append(now)
        session.add(Round(name=f"kept {len(calls)}"))
        return 1

    return task


def rounds(lab: Lab) -> list[str]:
    with lab.sessions() as session:
        return list(session.scalars(select(Round.name).order_by(Round.id)))


def test_a_failing_task_is_rolled_back_logged_without_its_text_and_the_next_runs(
    sqlite_lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[datetime] = []
    now = datetime(2031, 1, 1, tzinfo=UTC)
    jobs = Jobs(
        sqlite_lab.sessions,
        settings_of(sqlite_lab),
        [_failing, _counting(calls)],
        clock=lambda: now,
    )
    with caplog.at_level(logging.INFO):
        assert jobs.run_once() == 1
    assert calls == [now]
    assert rounds(sqlite_lab) == ["kept 1"]
    assert "periodic task tests.booking.test_jobs._failing failed: ValueError" in caplog.text
    assert "anna@example.org" not in caplog.text
    assert "geheim" not in caplog.text


def test_the_loop_survives_failures_and_keeps_running(sqlite_lab: Lab) -> None:
    calls: list[datetime] = []
    jobs = Jobs(
        sqlite_lab.sessions, settings_of(sqlite_lab), [_failing, _counting(calls)], interval=0.01
    )

    async def run() -> None:
        await jobs.start()
        deadline = time.monotonic() + 30
        while len(calls) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert jobs.alive
        await jobs.stop()
        assert not jobs.alive

    asyncio.run(run())
    assert len(calls) >= 3


def test_the_service_runs_the_jobs_and_stops_them_with_itself(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer
) -> None:
    lives = cast(
        Generator[Lab, None, None],
        _lab(
            tmp_path,
            sqlite_url,
            smtp_url=smtp_server.url,
            mail_from="lab@example.org",
            periodic_jobs=True,
        ),
    )
    lab = next(lives)
    jobs: Jobs = lab.client.app.state.periodic_jobs  # type: ignore[attr-defined]
    assert jobs.alive
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Europe/Berlin")).date()
    book(lab, date=(today + timedelta(days=3)).isoformat())
    old = book(lab, date=(today - timedelta(days=400)).isoformat(), contact_email="old@x.example")
    with database.transaction(lab.sessions) as session:
        lapsed = VisitRequest(
            state=RequestState.NEW, library="Bibliothek Kaarst", participants=9, language="de",
            contact_email="k@kaarst.example", consent_at=now - timedelta(hours=49),
            created_at=now - timedelta(hours=49), expires_at=now - timedelta(hours=1),
            opt_in_digest="0" * 64,
        )  # fmt: skip
        session.add(lapsed)
    jobs.wake()  # rather than wait a minute
    [reminder] = delivered(lab, smtp_server, 1)
    assert reminder["Subject"].startswith("Erinnerung: Ihr Besuch")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the erasure runs after the mails, in the same round
        with lab.sessions() as session:
            erased = session.get_one(Visit, old).contact_erased_at is not None
            state = session.get_one(VisitRequest, lapsed.id).state
        if erased:
            break
        time.sleep(0.05)
    assert erased
    assert state is RequestState.EXPIRED
    lives.close()  # the service shuts down
    assert not jobs.alive


def test_without_periodic_jobs_the_service_leaves_old_contacts_alone(
    tmp_path: Path, sqlite_url: str
) -> None:
    """An instance told not to run them (another one does) never starts the jobs."""
    lives = cast(Generator[Lab, None, None], _lab(tmp_path, sqlite_url, periodic_jobs=False))
    lab = next(lives)
    jobs: Jobs = lab.client.app.state.periodic_jobs  # type: ignore[attr-defined]
    assert not jobs.alive
    lives.close()


@pytest.mark.postgres
def test_two_instances_on_postgresql_queue_each_mail_once(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    if mail_lab.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serves one instance")
    for n in range(3):
        book(mail_lab, contact_email=f"contact{n}@example.org")
    now = at(VISIT_DAY - timedelta(days=2))
    settings = settings_of(mail_lab)
    second: list[int] = []

    # The first instance has queued everything but not committed when the second starts:
    # the second's first mark must wait for it, then lose.
    first = mail_lab.sessions()
    first.begin()
    assert queue_due_mails(first, now, settings) == 3

    def rival() -> None:
        with database.transaction(mail_lab.sessions) as session:
            second.append(queue_due_mails(session, now, settings))

    thread = threading.Thread(target=rival)
    thread.start()
    with mail_lab.engine.connect() as watcher:  # until the rival waits on the first's lock
        deadline = time.monotonic() + 30
        waiting = 0
        while not waiting and time.monotonic() < deadline:
            waiting = int(
                watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                or 0
            )
            watcher.rollback()
    assert waiting == 1
    first.commit()
    first.close()
    thread.join(30)
    assert second == [0]

    # And many at once, for the follow-ups: each still once.
    later = at(VISIT_DAY + timedelta(days=1))
    results: list[int] = []
    start = threading.Barrier(4)

    def instance() -> None:
        start.wait()
        with database.transaction(mail_lab.sessions) as session:
            results.append(queue_due_mails(session, later, settings))

    threads = [threading.Thread(target=instance) for _ in range(4)]
    for worker in threads:
        worker.start()
    for worker in threads:
        worker.join(30)
    assert sorted(results) == [0, 0, 0, 3]
    with mail_lab.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMail)) == 6
        assert session.scalar(select(func.count()).select_from(VisitMail)) == 6
        nonces = session.scalars(select(Visit.post_link_nonce)).all()
    assert all(nonces)
    assert len(set(nonces)) == 3
    assert len(delivered(mail_lab, smtp_server, 6)) == 6


def test_health_names_a_failing_task_and_stopped_jobs_but_no_error_text(
    tmp_path: Path, sqlite_url: str
) -> None:
    lives = cast(Generator[Lab, None, None], _lab(tmp_path, sqlite_url, periodic_jobs=True))
    lab = next(lives)
    jobs: Jobs = lab.client.app.state.periodic_jobs  # type: ignore[attr-defined]

    def health() -> dict[str, Any]:
        body: dict[str, Any] = lab.client.get("/api/health").json()
        return body

    def after_a_round(previous: object) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while jobs.last_round_at == previous and time.monotonic() < deadline:
            time.sleep(0.05)
        return health()

    fine = after_a_round(None)
    assert fine["status"] == "ok", fine
    assert fine["periodic_jobs"]["alive"] is True
    assert fine["periodic_jobs"]["failing"] == {}

    jobs.tasks = (*jobs.tasks, _failing)
    last = jobs.last_round_at
    jobs.wake()
    failed = after_a_round(last)
    assert failed["status"] == "degraded"
    [problem] = [p for p in failed["problems"] if p["component"] == "periodic jobs"]
    assert problem["detail"].endswith("_failing failed: ValueError")
    assert "anna@example.org" not in str(failed)

    lab.client.portal.call(jobs.stop)  # type: ignore[union-attr]
    stopped = health()
    assert "the minute jobs have stopped" in [p["detail"] for p in stopped["problems"]]
    lives.close()
