"""The database adapter: the only module that creates engines and runs migrations.

Feature packages declare their tables on :class:`Base`; service functions take a
:class:`~sqlalchemy.orm.Session` from the caller and never commit themselves.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    Enum,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from librarylab.private import private_file

# Stable constraint names, so migrations can refer to them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in time, always returned timezone-aware in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_type: type[enum.StrEnum], length: int = 16) -> Enum:
    """An enum column stored as its string values (portable, no native enum type)."""
    return Enum(
        enum_type,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    """Declarative base of every table of the service."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets foreign keys on and its parent folder created."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_file(Path(path))  # SQLite gives its journal files the same mode
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (routes render them)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def exclusive(engine: Engine, namespace: int, key: int, *, wait: bool) -> Iterator[bool]:
    """Hold a lock shared by every instance on the same database while the block runs;
    yields False when ``wait`` is off and another instance holds it.

    PostgreSQL: a session-level advisory lock on a connection of its own, so the block may
    commit other sessions freely and a crashed holder releases it. SQLite serves one
    instance only, so this is a no-op there (callers lock threads themselves).
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        got = _advisory_lock(connection, namespace, key, wait=wait)
        try:
            yield got
        finally:
            if got:
                _advisory_unlock(connection, namespace, key)


@contextmanager
def exclusive_connection(
    engine: Engine, namespace: int, key: int, *, wait: bool
) -> Iterator[Connection | None]:
    """Like ``exclusive``, and the block works on the lock's own connection (sessions bound
    to it may commit): one pooled connection per holder instead of two. None when ``wait``
    is off and another instance holds the lock; SQLite gets a plain connection."""
    with engine.connect() as connection:
        if engine.dialect.name != "postgresql":
            yield connection
            return
        if not _advisory_lock(connection, namespace, key, wait=wait):
            yield None
            return
        try:
            yield connection
        finally:
            if connection.in_transaction():  # whatever the block left open is not kept
                connection.rollback()
            _advisory_unlock(connection, namespace, key)


def _advisory_lock(connection: Connection, namespace: int, key: int, *, wait: bool) -> bool:
    """A session-level advisory lock, taken outside any transaction the caller opens."""
    if wait:
        connection.execute(text("SELECT pg_advisory_lock(:n, :k)"), {"n": namespace, "k": key})
        got = True
    else:
        got = bool(
            connection.scalar(
                text("SELECT pg_try_advisory_lock(:n, :k)"), {"n": namespace, "k": key}
            )
        )
    connection.commit()
    return got


def _advisory_unlock(connection: Connection, namespace: int, key: int) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:n, :k)"), {"n": namespace, "k": key})
    connection.commit()


def is_reachable(engine: Engine) -> bool:
    """True when a trivial query succeeds."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine``; no alembic.ini is needed."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("librarylab") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
