"""Fixtures of the account tests: the service with a real SMTP server behind it."""

from __future__ import annotations

from tests.booking.conftest import mail_lab
from tests.mail.conftest import smtp_server

__all__ = ["mail_lab", "smtp_server"]
