"""Fixtures of the mail tests: a real SMTP server, and an outbox on each database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from librarylab import database
from tests.mail.smtp_server import SmtpServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = database.make_engine(database_url)
    yield database.make_session_factory(engine)
    engine.dispose()
