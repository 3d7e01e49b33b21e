"""Fixtures: a fresh, migrated database per test on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import Role
from librarylab.app import create_app
from librarylab.demo import load_demo
from librarylab.models import metadata
from librarylab.settings import Settings
from tests.pages import login
from tests.services import CHROMIUM, CHROMIUM_ARGS, Mosquitto, OctoPrint, postgres_server

# The everyday suite (and CI) replays the same cases every run; HYPOTHESIS_PROFILE=thorough
# explores many more, freshly random ones.
hypothesis.settings.register_profile("default", max_examples=80, derandomize=True)
hypothesis.settings.register_profile("thorough", max_examples=1500)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TEST_SECRET = "test-secret-key-" + "x" * 32


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the whole run, with a migrated template database."""
    with postgres_server() as url:
        admin = database.make_engine(url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("CREATE DATABASE lab_template"))
        template = database.make_engine(url.rsplit("/", 1)[0] + "/lab_template")
        database.upgrade(template)
        template.dispose()
        admin.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    engine = database.make_engine(f"sqlite:///{path}")
    database.upgrade(engine)
    engine.dispose()
    return path


def _emptied_postgres(server_url: str) -> str:
    """The migrated test database with every table emptied (much faster than a new one)."""
    url = server_url.rsplit("/", 1)[0] + "/lab_template"
    engine = database.make_engine(url)
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "lab.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return _emptied_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite database (for tests where the backend does not matter)."""
    path = tmp_path / "lab.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_settings(tmp_path: Path, url: str, **overrides: object) -> Settings:
    overrides.setdefault("mqtt_enabled", False)
    # The minute jobs act on the wall clock (they erase contacts of visits a year old):
    # tests that want them switch them on, or call a task with their own "now".
    overrides.setdefault("periodic_jobs", False)
    overrides.setdefault("allowed_hosts", "testserver")  # the host TestClient sends
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        secret_key=SecretStr(TEST_SECRET),
        **overrides,  # type: ignore[arg-type]
    )


@dataclass
class Lab:
    """A running app on one database, with an admin and a staff account and their tokens."""

    client: TestClient
    engine: Engine
    sessions: sessionmaker[Session]
    admin_token: str
    staff_token: str

    def headers(self, role: str = "staff") -> dict[str, str]:
        token = self.admin_token if role == "admin" else self.staff_token
        return {"Authorization": f"Bearer {token}"}


ADMIN_PASSWORD = "admin-password-1"
STAFF_PASSWORD = "staff-password-1"


@functools.cache
def hashed(password: str) -> str:
    return accounts.hash_password(password)  # once per run: hashing is slow on purpose


def admin_headers(app: FastAPI) -> dict[str, str]:
    """Create an admin in ``app``'s database; the headers that send its new token."""
    with database.transaction(app.state.sessions) as session:
        admin = accounts.create_user(
            session, "ada", ADMIN_PASSWORD, Role.ADMIN, password_hash=hashed(ADMIN_PASSWORD)
        )
        token = accounts.create_token(session, admin).secret
    return {"Authorization": f"Bearer {token}"}


def _lab(tmp_path: Path, url: str, **overrides: object) -> Iterator[Lab]:
    app = create_app(make_settings(tmp_path, url, **overrides))
    sessions: sessionmaker[Session] = app.state.sessions
    with database.transaction(sessions) as session:
        admin = accounts.create_user(
            session, "ada", ADMIN_PASSWORD, Role.ADMIN, password_hash=hashed(ADMIN_PASSWORD)
        )
        staff = accounts.create_user(
            session, "sam", STAFF_PASSWORD, Role.STAFF, password_hash=hashed(STAFF_PASSWORD)
        )
        admin_token = accounts.create_token(session, admin).secret
        staff_token = accounts.create_token(session, staff).secret
    with TestClient(app) as client:
        yield Lab(client, app.state.engine, sessions, admin_token, staff_token)


@pytest.fixture
def lab(tmp_path: Path, database_url: str) -> Iterator[Lab]:
    """The service on SQLite and on PostgreSQL."""
    yield from _lab(tmp_path, database_url)


@pytest.fixture
def sqlite_lab(tmp_path: Path, sqlite_url: str) -> Iterator[Lab]:
    """The service on SQLite only (pages, where the backend does not matter)."""
    yield from _lab(tmp_path, sqlite_url)


@pytest.fixture
def staff(sqlite_lab: Lab) -> TestClient:
    """A logged-in staff member on a lab filled with the demo program."""
    with database.transaction(sqlite_lab.sessions) as session:
        load_demo(session)
    assert login(sqlite_lab.client, "sam", STAFF_PASSWORD).status_code == 303
    return sqlite_lab.client


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real Mosquitto broker for the whole run."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def octoprint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrint]:
    """A real OctoPrint with its Virtual Printer for the whole run."""
    server = OctoPrint(tmp_path_factory.mktemp("octoprint"), api_key="octo-test-key-1234")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_octoprint(tmp_path: Path) -> Iterator[OctoPrint]:
    """An OctoPrint of the test's own, for faults that leave it broken or killed."""
    server = OctoPrint(tmp_path / "octoprint", api_key="octo-own-key-5678")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by a module's page tests."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
