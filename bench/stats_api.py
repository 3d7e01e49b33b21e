"""Speed of the statistics API on a long history: prints medians (named stats_api.py, since a
script named stats.py would hide the stats package from its own imports).

    .venv/bin/python bench/stats_api.py [--runs N] [--visits N] [--database-url URL]

Generates five years of visits (2,000 by default), each with a rotation plan, posts and
print jobs, in a fresh SQLite database (or the empty, migrated database at --database-url),
then times GET /api/stats over the whole history and over one year, and GET /api/visits over
the whole history as the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import Role
from librarylab.app import create_app
from librarylab.settings import Settings
from printers.jobs import JobState
from printers.orm import PrintFile, PrintJob
from scheduler.orm import StoredPlan
from stations.model import Kind
from stations.orm import Station
from visits.model import PostKind, VisitStatus
from visits.orm import Round, Visit, VisitPost

NOW = datetime.now(UTC)
STATES = list(JobState)


def generate(sessions: sessionmaker[Session], visits: int) -> None:
    rng = random.Random(7)
    with database.transaction(sessions) as session:
        stations = [
            Station(name=f"{kind.value} {i}", kind=kind, capacity=4, status_since=NOW)
            for kind in Kind
            for i in range(1, 4)
        ]
        rounds = [Round(name=f"Round {i}") for i in range(1, 21)]
        file = PrintFile(name="Boat", filename="b.gcode", size=1, sha256="0" * 64, created_at=NOW)
        session.add_all([*stations, *rounds, file])
        session.flush()
        first = date.today() - timedelta(days=5 * 365)
        for n in range(visits):
            visit = Visit(
                date=first + timedelta(days=n * 5 * 365 // visits),
                round_id=rounds[n * len(rounds) // visits].id,
                library=f"Library {rng.randrange(150)}",
                town=f"Town {rng.randrange(60)}",
                topic=f"Topic {rng.randrange(12)}",
                participants=rng.randrange(5, 31),
                status=rng.choice([VisitStatus.DONE] * 8 + [VisitStatus.CANCELLED]),
                start=clock(10),
                end=clock(14),
                posts=[VisitPost(kind=PostKind.BLOG, url="", published=rng.random() < 0.7)],
            )
            session.add(visit)
            session.flush()
            slots = [
                {
                    "index": i,
                    "start": f"{11 + i // 2}:{30 * (i % 2):02d}",
                    "end": f"{11 + (i + 1) // 2}:{30 * ((i + 1) % 2):02d}",
                    "assignments": [
                        {"group_id": g + 1, "station_id": s.id}
                        for g, s in enumerate(rng.sample(stations, 4))
                    ],
                }
                for i in range(4)
            ]
            inputs = {
                "stations": {str(s.id): {"name": s.name, "kind": s.kind.value} for s in stations}
            }
            session.add(
                StoredPlan(
                    visit_id=visit.id,
                    options={},
                    document={"visit_id": visit.id, "groups": [], "slots": slots},
                    inputs=inputs,
                    updated_at=NOW,
                )
            )
            for _ in range(3):
                session.add(
                    PrintJob(
                        file_id=file.id,
                        visit_id=visit.id,
                        state=rng.choice(STATES),
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )


def median_ms(client: TestClient, path: str, headers: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--visits", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        engine = database.make_engine(url)
        database.upgrade(engine)
        engine.dispose()
        settings = Settings(
            data_dir=Path(folder) / "data",
            database_url=url,
            secret_key=SecretStr("bench-secret-key-" + "x" * 32),
            mqtt_enabled=False,
            allowed_hosts="testserver",
        )
        app = create_app(settings)
        with database.transaction(app.state.sessions) as session:
            admin = accounts.create_user(session, "bench", "bench-password-1", Role.ADMIN)
            headers = {"Authorization": f"Bearer {accounts.create_token(session, admin).secret}"}
        started = time.perf_counter()
        generate(app.state.sessions, args.visits)
        print(f"{args.visits} visits with plans generated in {time.perf_counter() - started:.1f} s")
        year = date.today().year - 1
        with TestClient(app) as client:
            baseline = median_ms(client, "/api/visits", headers, args.runs)
            print(f"{'request':48} {'median ms':>10} {'vs /api/visits':>15}")
            print(f"{'GET /api/visits (baseline)':48} {baseline:10.1f} {1:15.2f}")
            for path in (
                "/api/stats",
                f"/api/stats?from={year}-01-01&to={year}-12-31",
                "/api/stats.csv",
            ):
                ms = median_ms(client, path, headers, args.runs)
                print(f"{'GET ' + path:48} {ms:10.1f} {ms / baseline:15.2f}")


if __name__ == "__main__":
    main()
