"""Two contacts confirm their requests for the same date at the same moment, on PostgreSQL
with two sessions (as two instances would): exactly one request holds the date."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from booking import intake
from booking.model import MailKind, RequestState
from booking.orm import VisitRequest
from librarylab import database
from mail.orm import OutboxMail
from tests.conftest import _emptied_postgres, make_settings
from visits.model import VisitStatus
from visits.orm import Visit


def _request(email: str, visit_id: int) -> intake.RequestInput:
    return intake.checked_request(
        {
            "library": f"Bibliothek {email}",
            "town": "Neuss",
            "contact_name": "N. N.",
            "contact_email": email,
            "participants": 8,
            "topics": ["Bibliothek als Ort"],
            "language": "de",
            "visit_id": visit_id,
            "consent": True,
        }
    )


@pytest.mark.postgres
def test_two_confirmations_racing_for_one_date_leave_one_holder(
    postgres_url: str, tmp_path: Path
) -> None:
    url = _emptied_postgres(postgres_url)
    settings = make_settings(tmp_path, url).with_secret_key()
    engine = database.make_engine(url)
    sessions = database.make_session_factory(engine)
    now = datetime.now(UTC)
    with database.transaction(sessions) as session:
        visit = Visit(
            date=date.today() + timedelta(days=14),
            start=datetime(2000, 1, 1, 10).time(),
            end=datetime(2000, 1, 1, 14).time(),
            status=VisitStatus.FREE,
        )
        session.add(visit)
        session.flush()
        day = visit.id
        for email in ("anna@example.org", "bert@example.org"):
            intake.submit(session, _request(email, day), now=now, settings=settings)
    with sessions() as session:
        links = {
            m.recipient: re.search(r"/request/confirm/(\S+)", m.text_body)[1]  # type: ignore[index]
            for m in session.scalars(select(OutboxMail))
        }

    first, second = sessions(), sessions()
    outcomes: dict[str, intake.Confirmed | None] = {}
    anna = intake.confirm(first, links["anna@example.org"], now=now, settings=settings)

    def bert_confirms() -> None:
        outcomes["bert"] = intake.confirm(
            second, links["bert@example.org"], now=now, settings=settings
        )
        second.commit()

    racer = threading.Thread(target=bert_confirms)
    racer.start()
    with engine.connect() as watcher:  # until bert's UPDATE waits for anna's row lock
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
            watcher.rollback()
            if waiting:
                break
            time.sleep(0.02)
        assert waiting == 1
    first.commit()
    racer.join(timeout=30)
    first.close()
    second.close()

    assert anna is not None
    assert not anna.date_taken
    bert = outcomes["bert"]
    assert bert is not None
    assert bert.date_taken
    with sessions() as session:
        stored = {r.contact_email: r for r in session.scalars(select(VisitRequest))}
        assert {r.state for r in stored.values()} == {RequestState.CONFIRMED}
        assert [e for e, r in stored.items() if r.visit_id == day] == ["anna@example.org"]
        assert stored["bert@example.org"].visit_id is None
        assert session.get(Visit, day).status is VisitStatus.REQUESTED  # type: ignore[union-attr]
        received = {
            m.recipient: m.text_body
            for m in session.scalars(select(OutboxMail).where(OutboxMail.kind == MailKind.RECEIVED))
        }
    assert "Wunsch ohne Termin" in received["bert@example.org"]
    assert "vorgemerkt" in received["anna@example.org"]
    engine.dispose()
