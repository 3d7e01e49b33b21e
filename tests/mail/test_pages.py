"""The outbox as staff and monitors see it: the /mail page, its API and the health check,
with the service's own sender delivering to a real SMTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from librarylab import database
from mail import service
from tests.conftest import STAFF_PASSWORD, Lab, _lab
from tests.mail.smtp_server import SmtpServer
from tests.pages import login, submit, text_of

PASSWORD = "smtp-pa55word-9"


@pytest.fixture
def mail_lab(tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer) -> Iterator[Lab]:
    yield from _lab(tmp_path, sqlite_url, smtp_url=smtp_server.url, mail_from="lab@example.org")


def wait_for_mail(lab: Lab, state: str, count: int = 1) -> list[dict[str, Any]]:
    """The mails in ``state`` once there are ``count`` (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + 30
    while True:
        mails: list[dict[str, Any]] = lab.client.get(
            "/api/mail", params={"state": state}, headers=lab.headers()
        ).json()
        if len(mails) >= count or time.monotonic() > deadline:
            return mails
        time.sleep(0.05)


def test_staff_send_a_test_mail_and_send_a_refused_one_again(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    client = mail_lab.client
    login(client, "sam", STAFF_PASSWORD)
    assert "Noch keine Mails." in text_of(client.get("/mail"))

    answer = submit(client, "/mail", "/mail/test", {"to": "anna@example.org"})
    assert answer.status_code == 303
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Testmail von LibraryLab Düsseldorf"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "Wenn Sie sie lesen können" in plain.get_content()
    assert '<html lang="de">' in html.get_content()

    smtp_server.refused.add("nobody@example.org")
    submit(client, "/mail", "/mail/test", {"to": "nobody@example.org"})
    [failed] = wait_for_mail(mail_lab, "failed")
    assert failed["to"] == "nobody@example.org"
    assert failed["last_error"] == "550 recipient refused: 5.1.1 no such mailbox here"
    page = client.get("/mail")
    row = BeautifulSoup(page.text, "html.parser").select_one(f"#mail-{failed['id']}")
    assert row is not None
    assert "550 recipient refused" in row.get_text()
    assert row.select_one(f"form[action='/mail/{failed['id']}/resend']") is not None

    smtp_server.refused.clear()
    answer = submit(client, "/mail", f"/mail/{failed['id']}/resend", {})
    assert answer.status_code == 303
    assert len(wait_for_mail(mail_lab, "sent", 2)) == 2
    assert [m["To"] for m in smtp_server.messages] == ["anna@example.org", "nobody@example.org"]


def test_only_a_failed_mail_can_be_sent_again(mail_lab: Lab, smtp_server: SmtpServer) -> None:
    with database.transaction(mail_lab.sessions) as session:
        service.enqueue(session, to="anna@example.org", subject="Hallo", text="x", language="de")
    [sent] = wait_for_mail(mail_lab, "sent")
    api = mail_lab.client
    again = api.post(f"/api/mail/{sent['id']}/resend", headers=mail_lab.headers())
    assert again.status_code == 409
    assert "Only a failed mail" in again.json()["detail"]
    assert api.post("/api/mail/999/resend", headers=mail_lab.headers()).status_code == 404
    assert api.get("/api/mail").status_code == 401
    assert len(smtp_server.messages) == 1


def test_health_names_an_smtp_server_that_cannot_be_used_but_not_its_password(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer
) -> None:
    url = f"smtp://lab:{PASSWORD}@127.0.0.1:{smtp_server.port}"  # no STARTTLS there
    running = contextmanager(_lab)
    with running(tmp_path, sqlite_url, smtp_url=url, mail_from="lab@example.org") as lab:
        health = lab.client.get("/api/health").json()
        assert health["status"] == "ok", health["problems"]
        assert health["mail"] == {"enabled": True, "queued": 0, "failed": 0, "problem": None}

        with database.transaction(lab.sessions) as session:
            service.enqueue(
                session, to="anna@example.org", subject="Hallo", text="x", language="de"
            )
        deadline = time.monotonic() + 30
        while (
            lab.client.get("/api/health").json()["status"] == "ok" and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        health = lab.client.get("/api/health")
        assert health.json()["status"] == "degraded"
        assert health.json()["mail"]["queued"] == 1
        assert {
            "component": "mail",
            "detail": "the SMTP server offers no STARTTLS; the password is not sent in clear",
        } in health.json()["problems"]
        login(lab.client, "sam", STAFF_PASSWORD)
        page = lab.client.get("/mail")
        assert "offers no STARTTLS" in text_of(page)
        listing = lab.client.get("/api/mail", headers=lab.headers())
        for answer in (health, page, listing):
            assert PASSWORD not in answer.text
        assert smtp_server.messages == []


def test_without_smtp_mail_waits_and_the_page_says_so(sqlite_lab: Lab) -> None:
    with database.transaction(sqlite_lab.sessions) as session:
        service.enqueue(session, to="anna@example.org", subject="Hallo", text="x", language="de")
    health = sqlite_lab.client.get("/api/health").json()
    assert health["status"] == "ok"
    assert health["mail"] == {"enabled": False, "queued": 1, "failed": 0}
    login(sqlite_lab.client, "sam", STAFF_PASSWORD)
    page = text_of(sqlite_lab.client.get("/mail?lang=en"))
    assert "Mail is not being sent: no SMTP server is set" in page
    assert "queued: 1" in page
