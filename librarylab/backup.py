"""Backups of one lab in one archive, and their restore into an empty database and data folder.

A ``.tar.gz`` (standard library only) holds::

    manifest.json            format, time, database kind, schema revision, sha256 of each member
    database.sqlite3         SQLite: a copy made with SQLite's online backup API
    database.pgdump          PostgreSQL: ``pg_dump --format=custom`` (consistent by itself)
    data/print-files/…       the demo print files and their pictures

The secret key is never in it: whoever holds the archive must not also hold the key that
unseals the printers' API keys (see docs/backup.md). Errors the user can fix are
:class:`BackupError`; their text names neither a password nor a key.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select, table
from sqlalchemy.engine import make_url

from librarylab import database
from librarylab.crypto import SecretBox
from librarylab.private import private_folder
from librarylab.settings import Settings
from librarylab.ticker import Ticker

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"
DATA_PREFIX = "data/"
# The data folder's parts that belong in a backup: the print files and their pictures.
# The secret key, the SQLite file itself and the embedded broker's accounts stay out.
DATA_FOLDERS = ("print-files",)
ARCHIVE_PREFIX = "librarylab-"
ARCHIVE_SUFFIX = ".tar.gz"

log = logging.getLogger(__name__)


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says what to do."""


@dataclass(frozen=True)
class Manifest:
    """What an archive holds, checked before a restore writes anything."""

    created_at: str
    database: str  # "sqlite" or "postgresql"
    schema_revision: str | None
    checksums: dict[str, str]  # member name -> sha256
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            manifest = cls(
                created_at=str(data["created_at"]),
                database=str(data["database"]),
                schema_revision=data["schema_revision"],
                checksums={str(k): str(v) for k, v in data["checksums"].items()},
                format=int(data["format"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupError("the archive's manifest is unreadable") from None
        if manifest.format != FORMAT:
            raise BackupError(f"unknown archive format {manifest.format}; use a newer librarylab")
        return manifest


@dataclass
class Restored:
    """What a restore did, for the command's output."""

    manifest: Manifest
    files: int = 0
    jobs_marked_unknown: list[int] = field(default_factory=list)
    unreadable_printer_keys: list[tuple[int, str]] = field(default_factory=list)
    upgraded_from: str | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def known_revisions(engine: Engine) -> set[str]:
    """Every schema revision this code's migrations know."""
    script = ScriptDirectory.from_config(database.alembic_config(engine))
    return {rev.revision for rev in script.walk_revisions()}


# --- the database adapters -------------------------------------------------------------


def _pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` from PATH, else the newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise BackupError(f"{name} is not installed; install the PostgreSQL client tools")


def _pg_env(url: str) -> dict[str, str]:
    """Connection details in libpq's variables: the password never shows in the process list."""
    parts = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    values = {
        "PGHOST": parts.host,
        "PGPORT": str(parts.port) if parts.port else None,
        "PGUSER": parts.username,
        "PGPASSWORD": parts.password,
        "PGDATABASE": parts.database,
    }
    env.update({k: str(v) for k, v in values.items() if v})
    return env


def _run_pg(args: list[str], url: str) -> None:
    done = subprocess.run(  # noqa: S603 - fixed tool, no shell, no secret in args
        args, env=_pg_env(url), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{Path(args[0]).name} failed: {last}")


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def dump_database(url: str, target: Path) -> str:
    """Copy the database into ``target`` while the service may write; the archive member."""
    if url.startswith("sqlite"):
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)  # the online backup API: a consistent copy under writes
        finally:
            copy.close()
            source.close()
        return SQLITE_MEMBER
    _run_pg(
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl", f"--file={target}"], url
    )
    return POSTGRES_MEMBER


def load_database(url: str, member: str, source: Path) -> None:
    """Load a dumped database into the (checked empty) database at ``url``."""
    if member == SQLITE_MEMBER:
        if not url.startswith("sqlite"):
            raise BackupError("this archive holds a SQLite database; restore it into SQLite")
        dump = sqlite3.connect(source)
        target = sqlite3.connect(_sqlite_path(url))
        try:
            with target:
                dump.backup(target)
        finally:
            target.close()
            dump.close()
        return
    if not url.startswith("postgresql"):
        raise BackupError("this archive holds a PostgreSQL database; restore it into PostgreSQL")
    _run_pg(
        [
            _pg_tool("pg_restore"),
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            f"--dbname={make_url(url).database}",  # a name only: the rest travels in PG*
            str(source),
        ],
        url,
    )


# --- backup ----------------------------------------------------------------------------


def _data_files(data_dir: Path) -> Iterator[tuple[str, Path]]:
    for folder in DATA_FOLDERS:
        root = data_dir / folder
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                yield DATA_PREFIX + path.relative_to(data_dir).as_posix(), path


def write_backup(settings: Settings, target: Path, now: datetime | None = None) -> Manifest:
    """Write one archive of the database and the print files to ``target`` (atomically)."""
    url = settings.effective_database_url
    engine = database.make_engine(url)
    try:
        revision = database.current_revision(engine)
    finally:
        engine.dispose()
    if revision is None:
        raise BackupError("the database has no schema yet: there is nothing to back up")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="librarylab-backup-") as scratch:
        dumped = Path(scratch) / "database"
        member = dump_database(url, dumped)
        members = [(member, dumped), *_data_files(settings.data_dir)]
        manifest = Manifest(
            created_at=(now or datetime.now(UTC)).isoformat(),
            database="sqlite" if member == SQLITE_MEMBER else "postgresql",
            schema_revision=revision,
            checksums={name: sha256_of(path) for name, path in members},
        )
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            raw = manifest.to_json()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(raw)
            info.mtime = int(datetime.now(UTC).timestamp())
            archive.addfile(info, io.BytesIO(raw))
            for name, path in members:
                archive.add(path, arcname=name, recursive=False)
        os.chmod(partial, 0o600)  # it holds personal data
        partial.replace(target)
    return manifest


# --- restore ---------------------------------------------------------------------------


def rows_in(engine: Engine) -> dict[str, int]:
    """The tables of the database that hold rows, with their counts (alembic's included)."""
    found = {}
    with engine.connect() as connection:
        for name in inspect(connection).get_table_names():
            count = connection.scalar(select(func.count()).select_from(table(name)))
            if count:
                found[name] = int(count)
    return found


def check_empty_target(settings: Settings, engine: Engine) -> None:
    """Refuse a database with any row (a migrated one has alembic's) or print files on disk."""
    used = rows_in(engine)
    if used:
        names = ", ".join(sorted(used)[:5])
        raise BackupError(
            f"the database is not empty ({names}); restore into a new, empty database "
            "(nothing was changed)"
        )
    taken = [name for name, _path in _data_files(settings.data_dir)]
    if taken:
        raise BackupError(
            f"the data folder {settings.data_dir} already holds print files; restore into an "
            "empty data folder (nothing was changed)"
        )


@contextmanager
def _unpacked(archive_path: Path) -> Iterator[tuple[Manifest, Path]]:
    """The archive unpacked into a scratch folder, its checksums verified."""
    with tempfile.TemporaryDirectory(prefix="librarylab-restore-") as scratch:
        root = Path(scratch)
        try:
            with tarfile.open(archive_path, "r:gz") as archive:
                archive.extractall(root, filter="data")  # refuses links and paths outside root
        except (OSError, tarfile.TarError) as exc:
            raise BackupError(f"cannot read {archive_path}: {type(exc).__name__}") from None
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise BackupError(f"{archive_path} is not a librarylab backup (no manifest)")
        manifest = Manifest.from_json(manifest_path.read_bytes())
        for name, expected in manifest.checksums.items():
            if not _restorable(name):
                raise BackupError(f"the archive names a file it may not restore: {name!r}")
            member = root / name
            if not member.is_file() or sha256_of(member) != expected:
                raise BackupError(f"the archive is damaged: {name} does not match its checksum")
        yield manifest, root


def _restorable(name: str) -> bool:
    """A database dump, or a file inside one of the data folders that backups hold."""
    parts = name.split("/")
    if name in (SQLITE_MEMBER, POSTGRES_MEMBER):
        return True
    return (
        len(parts) >= 3
        and parts[0] == DATA_PREFIX.rstrip("/")
        and parts[1] in DATA_FOLDERS
        and all(part not in ("", ".", "..") for part in parts)
    )


def restore_backup(
    settings: Settings,
    archive_path: Path,
    now: datetime | None = None,
    report: Callable[[str], None] = lambda _line: None,
) -> Restored:
    """Restore an archive into the empty database and data folder of ``settings``."""
    url = settings.effective_database_url
    engine = database.make_engine(url)
    try:
        with _unpacked(archive_path) as (manifest, root):
            revision = manifest.schema_revision
            if revision is not None and revision not in known_revisions(engine):
                raise BackupError(
                    f"the archive's schema revision {revision} is newer than this librarylab "
                    "knows; restore it with the version that wrote it, or a newer one "
                    "(nothing was changed)"
                )
            kind = "sqlite" if url.startswith("sqlite") else "postgresql"
            if manifest.database != kind:
                raise BackupError(
                    f"this archive holds a {manifest.database} database; restore it into "
                    f"{manifest.database} (LIBRARYLAB_DATABASE_URL), not {kind}"
                )
            check_empty_target(settings, engine)
            member = SQLITE_MEMBER if kind == "sqlite" else POSTGRES_MEMBER
            engine.dispose()  # SQLite: no open connection while the file is replaced
            report("loading the database")
            load_database(url, member, root / member)
            restored = Restored(manifest)
            for name in manifest.checksums:
                if name.startswith(DATA_PREFIX):
                    target = settings.data_dir / name.removeprefix(DATA_PREFIX)
                    private_folder(target.parent)
                    shutil.copyfile(root / name, target)
                    os.chmod(target, 0o600)
                    restored.files += 1
        if database.current_revision(engine) != _head(engine):
            restored.upgraded_from = revision
            report(f"upgrading the schema from {revision}")
            database.upgrade(engine)
        restored.jobs_marked_unknown = _settle_caught_jobs(engine, now or datetime.now(UTC))
        restored.unreadable_printer_keys = _unreadable_keys(engine, settings)
        return restored
    finally:
        engine.dispose()


def _head(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(database.alembic_config(engine)).get_current_head()


def _settle_caught_jobs(engine: Engine, now: datetime) -> list[int]:
    """Jobs being sent or printed at backup time become ``unknown``: the printer may have
    finished, failed or been cleared since, and only staff can tell."""
    from printers import queue
    from printers.jobs import ACTIVE, UNKNOWN, why
    from printers.orm import PrintJob

    sessions = database.make_session_factory(engine)
    with database.transaction(sessions) as session:
        caught = session.scalars(select(PrintJob).where(PrintJob.state.in_(ACTIVE))).all()
        for job in caught:
            reason = why("restored from a backup taken while the job was {state}", state=job.state)
            queue.move(session, job, UNKNOWN, reason, now)
        return [job.id for job in caught]


def _unreadable_keys(engine: Engine, settings: Settings) -> list[tuple[int, str]]:
    """Printers whose API key the configured secret key cannot open (sealed under another)."""
    from printers.orm import Printer

    box = SecretBox(settings.with_secret_key().secret_key.get_secret_value())
    sessions = database.make_session_factory(engine)
    with sessions() as session:
        printers = session.scalars(select(Printer).order_by(Printer.id)).all()
        return [(p.id, p.name) for p in printers if box.open(p.api_key_sealed) is None]


# --- scheduled backups -----------------------------------------------------------------


def archive_name(now: datetime) -> str:
    return f"{ARCHIVE_PREFIX}{now.astimezone(UTC):%Y%m%d-%H%M%S}{ARCHIVE_SUFFIX}"


def archives_in(folder: Path) -> list[Path]:
    """The scheduled archives in ``folder``, oldest first (their names sort by time)."""
    return sorted(folder.glob(f"{ARCHIVE_PREFIX}[0-9]*-[0-9]*{ARCHIVE_SUFFIX}"))


def daily_backup(settings: Settings, folder: Path, keep: int, now: datetime) -> Path | None:
    """Write today's archive (UTC day) unless one exists, then keep only the newest ``keep``.

    Several instances may share the folder: the first to create today's claim file
    (``O_EXCL``) writes, the others skip. Returns the new archive, or None when skipped.
    """
    private_folder(folder)
    day = f"{now.astimezone(UTC):%Y%m%d}"
    written = None
    if not any(p.name.startswith(f"{ARCHIVE_PREFIX}{day}-") for p in archives_in(folder)):
        claim = folder / f".{ARCHIVE_PREFIX}{day}.claim"
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return None  # another instance writes today's
        try:
            written = folder / archive_name(now)
            write_backup(settings, written, now)
        except BaseException:
            claim.unlink(missing_ok=True)  # let the next round try again
            raise
    for old in archives_in(folder)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    for claim in folder.glob(f".{ARCHIVE_PREFIX}*.claim"):
        if claim.name != f".{ARCHIVE_PREFIX}{day}.claim":
            claim.unlink(missing_ok=True)
    return written


class DailyBackup(Ticker):
    """Writes the day's backup from ``serve``; checks every ``interval`` seconds whether one
    is due (time is injected, so tests can pass days in a moment)."""

    name = "daily backup"

    def __init__(
        self,
        settings: Settings,
        folder: Path,
        keep: int,
        interval: float = 600,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(interval)
        self._settings = settings
        self._folder = folder
        self._keep = keep
        self._clock = clock

    def tick(self) -> Path | None:
        written = daily_backup(self._settings, self._folder, self._keep, self._clock())
        if written is not None:
            log.info("backup written: %s", written.name)
        return written
