"""Visit requests: the time of one public request (its limits counted, the request stored, the
opt-in mail rendered and queued, committed) and of one confirmation (the date taken by a
conditional UPDATE, the "received" mail queued, committed), on a migrated SQLite database;
against a baseline measured in the same run: staff storing a visit (one insert, committed).

    .venv/bin/python bench/visit_requests.py --requests 200 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr
from sqlalchemy import select

from booking import intake, limits
from librarylab import database
from librarylab.settings import Settings
from mail.orm import OutboxMail
from visits import service as visits
from visits.model import VisitStatus
from visits.orm import Visit


def one_run(requests: int) -> tuple[float, float, float]:
    """Median milliseconds of a request, of a confirmation and of the baseline."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3"
        settings = Settings(data_dir=Path(folder), database_url=url, secret_key=SecretStr("b" * 40))
        engine = database.make_engine(url)
        database.upgrade(engine)
        sessions = database.make_session_factory(engine)
        now = datetime.now(UTC)
        with database.transaction(sessions) as session:
            for n in range(requests):
                session.add(
                    Visit(
                        date=date.today() + timedelta(days=2 + n),
                        start=clock(10),
                        end=clock(14),
                        status=VisitStatus.FREE,
                    )
                )
        with sessions() as session:
            days = list(session.scalars(select(Visit.id)))
        submits = []
        for n, day in enumerate(days):
            values = {
                "library": f"Bibliothek {n}",
                "town": "Neuss",
                "contact_name": "N. N.",
                "contact_email": f"kontakt{n}@example.org",
                "participants": 10,
                "topics": ["Bibliothek als Ort"],
                "language": "de",
                "visit_id": day,
                "consent": True,
            }
            started = time.perf_counter()
            with database.transaction(sessions) as session:
                request = intake.checked_request(values)
                limits.count(
                    session, limits.address_subject(f"10.0.{n}.1"), limits.PER_ADDRESS, now
                )
                subject = limits.email_subject(request.contact_email, "key")
                limits.count(session, subject, limits.PER_EMAIL, now)
                intake.submit(session, request, now=now, settings=settings)
            submits.append(time.perf_counter() - started)
        with sessions() as session:
            secrets = [
                m.text_body.split("/request/confirm/")[1].split()[0]
                for m in session.scalars(select(OutboxMail))
            ]
        confirms = []
        for secret in secrets:
            started = time.perf_counter()
            with database.transaction(sessions) as session:
                assert intake.confirm(session, secret, now=now, settings=settings)
            confirms.append(time.perf_counter() - started)
        baseline = []
        for n in range(requests):
            started = time.perf_counter()
            with database.transaction(sessions) as session:
                visits.create_visit(
                    session,
                    {"date": date.today() + timedelta(days=400 + n), "status": VisitStatus.FREE},
                )
            baseline.append(time.perf_counter() - started)
        engine.dispose()
    submit, confirm, base = (statistics.median(x) * 1000 for x in (submits, confirms, baseline))
    return submit, confirm, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [one_run(args.requests) for _ in range(args.runs)]
    submit = statistics.median(r[0] for r in results)
    confirm = statistics.median(r[1] for r in results)
    base = statistics.median(r[2] for r in results)
    print(
        f"request: {submit:.1f} ms ({submit / base:.1f}x), confirmation: {confirm:.1f} ms "
        f"({confirm / base:.1f}x), baseline (staff store a visit): {base:.1f} ms "
        f"(medians of {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
