"""Fixtures of the visit-request tests: the service with a real SMTP server behind it, on
each database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Lab, _lab
from tests.mail.conftest import smtp_server
from tests.mail.smtp_server import SmtpServer

__all__ = ["smtp_server"]


@pytest.fixture
def mail_lab(tmp_path: Path, database_url: str, smtp_server: SmtpServer) -> Iterator[Lab]:
    """The service on SQLite and on PostgreSQL, delivering its mail to ``smtp_server``."""
    yield from _lab(
        tmp_path,
        database_url,
        smtp_url=smtp_server.url,
        mail_from="lab@example.org",
        request_min_fill_seconds=0,
    )


@pytest.fixture
def sqlite_mail_lab(tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer) -> Iterator[Lab]:
    """The same on SQLite only, where the backend does not matter."""
    yield from _lab(
        tmp_path,
        sqlite_url,
        smtp_url=smtp_server.url,
        mail_from="lab@example.org",
        request_min_fill_seconds=0,
    )
