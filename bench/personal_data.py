"""Personal data: how long an export, an erasure and the periodic erasure take on a lab with
years of visits and mail, on a migrated SQLite database.

Finding one address's mails reads every mail whose subject or body contains it as text (the
database cannot index that), so the time grows with the outbox; this shows by how much.

    .venv/bin/python bench/personal_data.py --visits 1000 --mails-per-visit 5 --runs 5
    .venv/bin/python bench/personal_data.py --contacts 1000 --runs 3  # no one comes back
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from booking import privacy
from librarylab import database
from librarylab.settings import Settings
from mail import service
from mail.model import MailState
from visits.model import VisitStatus
from visits.orm import Visit

NOW = datetime(2026, 3, 14, 12, tzinfo=UTC)
TEXT = "Guten Tag,\n\nIhr Besuch im LibraryLab ist bestätigt.\n" * 12


def _fill(sessions: sessionmaker[Session], visits: int, mails: int, contacts: int) -> None:
    with database.transaction(sessions) as session:
        for i in range(visits):
            day = date(2021, 1, 4) + timedelta(days=i * 5 * 365 // visits)
            address = f"kontakt{i % contacts}@bibliothek.example"
            session.add(
                Visit(
                    date=day,
                    start=clock(10),
                    end=clock(12),
                    library=f"Bibliothek {i % contacts}",
                    participants=10,
                    status=VisitStatus.DONE,
                    contact_name=f"Kontakt {i}",
                    contact_email=address,
                )
            )
            created = datetime.combine(day, clock(9), UTC) - timedelta(days=30)
            for _ in range(mails):
                mail = service.enqueue(
                    session,
                    to=address,
                    subject="Ihr Besuch",
                    text=TEXT,
                    html=f"<p>{TEXT}</p>",
                    language="de",
                    now=created,
                )
                mail.state = MailState.SENT


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(visits: int, mails: int, contacts: int) -> dict[str, float]:
    settings = Settings(secret_key=SecretStr("bench-" + "k" * 40))
    with tempfile.TemporaryDirectory() as folder:
        engine = database.make_engine(f"sqlite:///{folder}/bench.sqlite3")
        database.upgrade(engine)
        sessions = database.make_session_factory(engine)
        _fill(sessions, visits, mails, contacts)
        times = {}
        with database.transaction(sessions) as session:
            times["export"] = _timed(
                lambda: privacy.export(
                    session, "kontakt7@bibliothek.example", actor="b", settings=settings, now=NOW
                )
            )
        with database.transaction(sessions) as session:
            times["erase"] = _timed(
                lambda: privacy.erase(
                    session, "kontakt7@bibliothek.example", actor="b", settings=settings, now=NOW
                )
            )
        erased: list[int] = []
        with database.transaction(sessions) as session:
            times["expire (first run)"] = _timed(
                lambda: erased.append(privacy.erase_expired(session, NOW, settings))
            )
        print(f"the first periodic erasure changed {erased[0]} records")
        with database.transaction(sessions) as session:
            times["expire (nothing due)"] = _timed(
                lambda: privacy.erase_expired(session, NOW, settings)
            )
        engine.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visits", type=int, default=1000)
    parser.add_argument("--mails-per-visit", type=int, default=5)
    parser.add_argument(
        "--contacts", type=int, default=200, help="distinct addresses (libraries come back)"
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = [run(args.visits, args.mails_per_visit, args.contacts) for _ in range(args.runs)]
    total = args.visits * args.mails_per_visit
    print(
        f"{args.visits} visits of {args.contacts} contacts, {total} mails, "
        f"median of {args.runs} runs:"
    )
    for name in results[0]:
        median = statistics.median(r[name] for r in results)
        print(f"  {name:22} {median * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
