"""``librarylab backup`` and ``restore`` as staff run them, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import Role
from librarylab.app import create_app
from librarylab.backup import MANIFEST, _pg_env, archives_in, daily_backup, sha256_of
from librarylab.crypto import SecretBox
from librarylab.demo import load_demo
from librarylab.settings import Settings
from printers.jobs import JobState
from printers.orm import Printer, PrintFile, PrintJob
from stations.orm import Station
from tests.conftest import TEST_SECRET, hashed, make_settings

LIBRARYLAB = str(Path(sys.executable).parent / "librarylab")
OTHER_SECRET = "another-secret-key-" + "y" * 32


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIBRARYLAB, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def env_for(settings: Settings, secret: str = TEST_SECRET) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIBRARYLAB_")}
    return clean | {
        "LIBRARYLAB_DATA_DIR": str(settings.data_dir),
        "LIBRARYLAB_DATABASE_URL": settings.database_url,
        "LIBRARYLAB_SECRET_KEY": secret,
    }


@dataclass
class Pair:
    """A lab with demo data and an empty place (database and data folder) to restore into."""

    source: Settings
    target: Settings
    headers: dict[str, str]

    def sessions(self, settings: Settings) -> sessionmaker[Session]:
        return database.make_session_factory(database.make_engine(settings.database_url))


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[str]:
    """A database with no table at all, on the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'lab.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_url")
    admin = database.make_engine(server)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("DROP DATABASE IF EXISTS restore_target WITH (FORCE)"))
        connection.execute(text("CREATE DATABASE restore_target"))
    yield server.rsplit("/", 1)[0] + "/restore_target"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("DROP DATABASE IF EXISTS restore_target WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def pair(tmp_path: Path, database_url: str, empty_url: str) -> Pair:
    source = make_settings(tmp_path, database_url)
    sessions = Pair(source, source, {}).sessions(source)
    with database.transaction(sessions) as session:
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        load_demo(session, now, source.data_dir)
        admin = accounts.create_user(
            session, "ada", "admin-password-1", Role.ADMIN, password_hash=hashed("admin-password-1")
        )
        token = accounts.create_token(session, admin).secret
    sessions.kw["bind"].dispose()
    target = make_settings(tmp_path / "restored", empty_url)
    return Pair(source, target, {"Authorization": f"Bearer {token}"})


def _get_answers(settings: Settings, headers: dict[str, str]) -> dict[str, Any]:
    """Every GET under /api: those without a path parameter, and those with one for each id
    the matching list holds."""
    app = create_app(settings)
    answers: dict[str, Any] = {}
    with TestClient(app) as client:
        # The OpenAPI document lists every route of the app's routers.
        routes = [p for p, ops in app.openapi()["paths"].items() if "get" in ops]
        routes = [p for p in routes if p.startswith("/api")]
        paths = [p for p in routes if "{" not in p]
        for route in [r for r in routes if r.count("{") == 1]:
            head, param = (
                route.split("{")[0].rstrip("/"),
                route[route.index("{") : route.index("}") + 1],
            )
            if head in paths:
                listing = client.get(head, headers=headers)
                items = listing.json() if listing.status_code == 200 else []
                ids = [i["id"] for i in items if isinstance(i, dict) and "id" in i]
                paths += [route.replace(param, str(i)) for i in ids]
        for path in paths:
            response = client.get(path, headers=headers)
            body: Any = response.content
            if response.headers.get("content-type", "").startswith("text/calendar"):
                # DTSTAMP is when the calendar was generated, not data
                lines = body.split(b"\r\n")
                body = [line for line in lines if not line.startswith(b"DTSTAMP:")]
            if response.headers.get("content-type", "").startswith("application/json"):
                body = response.json()
            answers[path] = (response.status_code, body)
    return answers


def _file_sums(data_dir: Path) -> dict[str, str]:
    root = data_dir / "print-files"
    return {p.relative_to(root).as_posix(): sha256_of(p) for p in root.rglob("*") if p.is_file()}


def test_a_restored_lab_answers_every_get_as_the_original(pair: Pair, tmp_path: Path) -> None:
    archive = tmp_path / "lab.tar.gz"
    backed = run(["backup", str(archive)], env_for(pair.source))
    assert backed.returncode == 0, backed.stderr
    assert "secret key is not in it" in backed.stdout

    restored = run(["restore", str(archive)], env_for(pair.target))
    assert restored.returncode == 0, restored.stderr

    before = _get_answers(pair.source, pair.headers)
    after = _get_answers(pair.target, pair.headers)
    assert len([p for p in before if p.rsplit("/", 1)[-1].isdigit()]) >= 5  # per-id ones too
    assert sum(1 for status, _ in before.values() if status == 200) >= 15
    assert after == before
    sums = _file_sums(pair.source.data_dir)
    assert len(sums) >= 2
    assert _file_sums(pair.target.data_dir) == sums


def _counts(settings: Settings) -> dict[str, int]:
    engine = database.make_engine(settings.database_url)
    with engine.connect() as connection:
        found = {
            "stations": connection.scalar(select(func.count()).select_from(Station)) or 0,
            "files": connection.scalar(select(func.count()).select_from(PrintFile)) or 0,
        }
    engine.dispose()
    return found


def test_restore_refuses_a_database_that_holds_data_and_changes_nothing(
    pair: Pair, tmp_path: Path
) -> None:
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0
    before, sums = _counts(pair.source), _file_sums(pair.source.data_dir)

    refused = run(["restore", str(archive)], env_for(pair.source))

    assert refused.returncode == 2
    assert refused.stderr.startswith("error: the database is not empty")
    assert "Traceback" not in refused.stderr
    assert _counts(pair.source) == before
    assert _file_sums(pair.source.data_dir) == sums


def test_restore_refuses_a_data_folder_with_print_files(pair: Pair, tmp_path: Path) -> None:
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0
    stray = pair.target.data_dir / "print-files" / "7.gcode"
    stray.parent.mkdir(parents=True)
    stray.write_text("G28\n")

    refused = run(["restore", str(archive)], env_for(pair.target))

    assert refused.returncode == 2
    assert "already holds print files" in refused.stderr
    assert stray.read_text() == "G28\n"
    assert sorted(p.name for p in stray.parent.iterdir()) == ["7.gcode"]


def _rewrite_manifest(archive: Path, change: dict[str, Any]) -> None:
    with tarfile.open(archive, "r:gz") as old:
        members = [(m, old.extractfile(m).read()) for m in old.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(archive, "w:gz") as new:
        for member, raw in members:
            if member.name == MANIFEST:
                raw = json.dumps(json.loads(raw) | change).encode()
                member.size = len(raw)
            new.addfile(member, io.BytesIO(raw))


def test_restore_refuses_an_archive_of_a_newer_schema(pair: Pair, tmp_path: Path) -> None:
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0
    _rewrite_manifest(archive, {"schema_revision": "f00dfeedbeef"})

    refused = run(["restore", str(archive)], env_for(pair.target))

    assert refused.returncode == 2
    assert "schema revision f00dfeedbeef is newer" in refused.stderr
    assert "nothing was changed" in refused.stderr
    engine = database.make_engine(pair.target.database_url)
    assert database.current_revision(engine) is None
    with engine.connect() as connection:
        from sqlalchemy import inspect

        assert inspect(connection).get_table_names() == []
    engine.dispose()
    assert not (pair.target.data_dir / "print-files").exists()


def test_restore_refuses_a_damaged_archive(pair: Pair, tmp_path: Path) -> None:
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0
    with tarfile.open(archive, "r:gz") as old:
        names = [m.name for m in old.getmembers() if m.name.startswith("data/")]
    _rewrite_manifest(archive, {"checksums": {names[0]: "0" * 64}})

    refused = run(["restore", str(archive)], env_for(pair.target))

    assert refused.returncode == 2
    assert f"{names[0]} does not match its checksum" in refused.stderr


def test_restore_refuses_a_manifest_that_points_outside_the_data_folder(
    pair: Pair, tmp_path: Path
) -> None:
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0
    with tarfile.open(archive, "r:gz") as old:
        checksums = json.loads(old.extractfile(MANIFEST).read())["checksums"]  # type: ignore[union-attr]
    name = next(n for n in checksums if n.startswith("data/"))
    sneaky = "data/print-files/../../../escaped.gcode"
    _rewrite_manifest(archive, {"checksums": checksums | {sneaky: checksums[name]}})

    refused = run(["restore", str(archive)], env_for(pair.target))

    assert refused.returncode == 2
    assert "may not restore" in refused.stderr
    assert not (tmp_path / "escaped.gcode").exists()
    assert not (pair.target.data_dir / "print-files").exists()


def test_the_secret_key_stays_out_of_the_archive(pair: Pair, tmp_path: Path) -> None:
    key_file = pair.source.data_dir / "secret_key"
    key_file.write_text(OTHER_SECRET + "\n")
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0

    with tarfile.open(archive, "r:gz") as packed:
        names = packed.getnames()
        contents = b"".join(packed.extractfile(m).read() for m in packed.getmembers() if m.isfile())  # type: ignore[union-attr]
    assert MANIFEST in names
    assert not [n for n in names if "secret" in n or n.endswith(".sqlite3-journal")]
    assert OTHER_SECRET.encode() not in contents
    assert TEST_SECRET.encode() not in contents
    assert archive.stat().st_mode & 0o077 == 0


def _add_printer_and_jobs(settings: Settings, secret: str) -> tuple[str, list[int]]:
    sessions = Pair(settings, settings, {}).sessions(settings)
    now = datetime.now(UTC)
    with database.transaction(sessions) as session:
        sealed = SecretBox(secret).seal("octoprint-api-key")
        printer = Printer(name="Prusa links", url="http://192.0.2.1", api_key_sealed=sealed)
        session.add(printer)
        session.flush()
        file_id = session.scalars(select(PrintFile.id)).first()
        jobs = [
            PrintJob(
                file_id=file_id, printer_id=printer.id, state=state, created_at=now, updated_at=now
            )
            for state in (JobState.PRINTING, JobState.UPLOADING, JobState.DONE, JobState.QUEUED)
        ]
        session.add_all(jobs)
        session.flush()
        ids = [job.id for job in jobs]
    sessions.kw["bind"].dispose()
    return sealed, ids


def test_jobs_caught_printing_come_back_unknown_with_a_reason(pair: Pair, tmp_path: Path) -> None:
    _sealed, (printing, uploading, done, queued) = _add_printer_and_jobs(pair.source, TEST_SECRET)
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0

    restored = run(["restore", str(archive)], env_for(pair.target))

    assert restored.returncode == 0, restored.stderr
    assert f"print job {printing} was being printed" in restored.stdout
    assert "sealed under another secret key" not in restored.stdout
    sessions = pair.sessions(pair.target)
    with sessions() as session:
        jobs = {job.id: job for job in session.scalars(select(PrintJob))}
        assert jobs[printing].state is JobState.UNKNOWN
        assert jobs[uploading].state is JobState.UNKNOWN
        assert jobs[printing].reason == "restored from a backup taken while the job was {state}"
        assert jobs[printing].reason_params == {"state": "printing"}
        assert jobs[done].state is JobState.DONE
        assert jobs[queued].state is JobState.QUEUED
        assert [e.to_state for e in jobs[printing].history][-1] is JobState.UNKNOWN
    sessions.kw["bind"].dispose()


def test_a_printer_key_sealed_under_another_secret_is_reported_not_garbled(
    pair: Pair, tmp_path: Path
) -> None:
    sealed, _jobs = _add_printer_and_jobs(pair.source, TEST_SECRET)
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0

    restored = run(["restore", str(archive)], env_for(pair.target, secret=OTHER_SECRET))

    assert restored.returncode == 0, restored.stderr
    assert "'Prusa links': its API key was sealed under another secret key" in restored.stdout
    sessions = pair.sessions(pair.target)
    with sessions() as session:
        kept = session.scalars(select(Printer.api_key_sealed)).one()
    sessions.kw["bind"].dispose()
    assert kept == sealed  # untouched: the old secret key still opens it
    assert SecretBox(OTHER_SECRET).open(kept) is None
    assert SecretBox(TEST_SECRET).open(kept) == "octoprint-api-key"


def test_a_sqlite_backup_taken_during_a_write_holds_the_committed_state(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    app = create_app(settings)
    with TestClient(app):  # the service runs meanwhile
        with database.transaction(app.state.sessions) as session:
            load_demo(session, None, settings.data_dir)
        writer = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        writer.execute("UPDATE stations SET name = 'half-written' WHERE id = 1")
        archive = tmp_path / "lab.tar.gz"
        backed = run(["backup", str(archive)], env_for(settings))
        writer.execute("COMMIT")
        writer.close()
    assert backed.returncode == 0, backed.stderr

    target = make_settings(tmp_path / "restored", f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    assert run(["restore", str(archive)], env_for(target)).returncode == 0
    copy = sqlite3.connect(tmp_path / "restored.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    names = [row[0] for row in copy.execute("SELECT name FROM stations")]
    copy.close()
    assert names
    assert "half-written" not in names


def test_the_postgres_password_travels_in_the_environment_only() -> None:
    env = _pg_env("postgresql+psycopg://lab:s3cret@db.example.org:5433/librarylab")
    assert env["PGPASSWORD"] == "s3cret"
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"]) == ("db.example.org", "5433", "lab")
    assert env["PGDATABASE"] == "librarylab"


def test_the_daily_backup_writes_one_archive_a_day_and_keeps_the_newest(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    folder = tmp_path / "backups"
    start = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    written = []
    for day in range(5):
        for hour in (0, 9, 20):  # three rounds a day: only the first writes
            written.append(
                daily_backup(settings, folder, 3, start + timedelta(days=day, hours=hour))
            )
    assert [w.name for w in written if w is not None] == [
        f"librarylab-202603{d:02d}-023000.tar.gz" for d in range(1, 6)
    ]
    assert [p.name for p in archives_in(folder)] == [
        "librarylab-20260303-023000.tar.gz",
        "librarylab-20260304-023000.tar.gz",
        "librarylab-20260305-023000.tar.gz",
    ]
    assert [p.name for p in folder.glob(".*.claim")] == [".librarylab-20260305.claim"]


def test_another_instance_that_claimed_the_day_is_left_to_write(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / ".librarylab-20260301.claim").touch()
    assert daily_backup(settings, folder, 3, datetime(2026, 3, 1, 5, tzinfo=UTC)) is None
    assert archives_in(folder) == []


def test_serve_writes_the_daily_backup_when_a_folder_is_set(
    tmp_path: Path, sqlite_url: str
) -> None:
    folder = tmp_path / "backups"
    app = create_app(make_settings(tmp_path, sqlite_url, backup_dir=str(folder), backup_keep=2))
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
    (archive,) = archives_in(folder)
    with tarfile.open(archive, "r:gz") as packed:
        manifest = json.loads(packed.extractfile(MANIFEST).read())  # type: ignore[union-attr]
    assert manifest["database"] == "sqlite"
    assert manifest["schema_revision"]


def test_an_archive_of_an_older_schema_is_upgraded_after_loading(
    tmp_path: Path, sqlite_template: Path
) -> None:
    source = make_settings(tmp_path, f"sqlite:///{tmp_path / 'old.sqlite3'}")
    engine = database.make_engine(source.database_url)
    head = database.current_revision(database.make_engine(f"sqlite:///{sqlite_template}"))
    script = ScriptDirectory.from_config(database.alembic_config(engine))
    assert head is not None
    older = script.get_revision(head).down_revision
    assert isinstance(older, str)
    database.upgrade(engine, older)
    engine.dispose()
    archive = tmp_path / "old.tar.gz"
    assert run(["backup", str(archive)], env_for(source)).returncode == 0

    target = make_settings(tmp_path / "restored", f"sqlite:///{tmp_path / 'new.sqlite3'}")
    restored = run(["restore", str(archive)], env_for(target))

    assert restored.returncode == 0, restored.stderr
    assert f"schema upgraded from {older}" in restored.stdout
    upgraded = database.make_engine(target.database_url)
    assert database.current_revision(upgraded) == head
    upgraded.dispose()


def test_restore_refuses_an_archive_of_the_other_database_kind(
    pair: Pair, tmp_path: Path, database_url: str
) -> None:
    archive = tmp_path / "lab.tar.gz"
    assert run(["backup", str(archive)], env_for(pair.source)).returncode == 0
    other = "postgresql" if database_url.startswith("sqlite") else "sqlite"
    _rewrite_manifest(archive, {"database": other})

    refused = run(["restore", str(archive)], env_for(pair.target))

    assert refused.returncode == 2
    assert f"this archive holds a {other} database" in refused.stderr


def test_backup_of_a_database_without_schema_or_into_a_missing_folder_says_why(
    tmp_path: Path, sqlite_url: str
) -> None:
    empty = make_settings(tmp_path / "none", f"sqlite:///{tmp_path / 'none.sqlite3'}")
    refused = run(["backup", str(tmp_path / "a.tar.gz")], env_for(empty))
    assert refused.returncode == 2
    assert refused.stderr == "error: the database has no schema yet: there is nothing to back up\n"

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    settings = make_settings(tmp_path, sqlite_url)
    failed = run(["backup", str(blocked / "lab.tar.gz")], env_for(settings))
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"error: cannot write {blocked / 'lab.tar.gz'}:")
