"""Two service instances on one PostgreSQL share the outbox: every mail goes out exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from librarylab import database
from librarylab.app import create_app
from mail import service
from mail.model import MailState
from mail.orm import OutboxMail
from mail.sender import Sender
from mail.smtp import SmtpAddress
from tests.conftest import _emptied_postgres, make_settings
from tests.mail.smtp_server import SmtpServer

MAILS = 50


def queue(sessions: sessionmaker[Session]) -> None:
    with database.transaction(sessions) as session:
        for i in range(MAILS):
            service.enqueue(
                session, to=f"gast{i}@example.org", subject=f"Mail {i}", text="x", language="de"
            )


def assert_each_arrived_once(smtp_server: SmtpServer, url: str) -> None:
    arrived = Counter(m["Message-ID"] for m in smtp_server.messages)
    engine = database.make_engine(url)
    with database.make_session_factory(engine)() as session:
        stored = session.execute(
            select(OutboxMail.message_id, OutboxMail.state, OutboxMail.recipient)
        ).all()
    engine.dispose()
    assert {state for _, state, _ in stored} == {MailState.SENT}
    assert arrived == Counter(message_id for message_id, _, _ in stored)
    assert len(arrived) == MAILS
    # Mails share a connection, never a recipient: each goes to its own contact only.
    recipient = {message_id: to for message_id, _, to in stored}
    for message, envelope in zip(smtp_server.messages, smtp_server.envelopes, strict=True):
        assert envelope == [message["To"]] == [recipient[message["Message-ID"]]]


@pytest.mark.postgres
def test_racing_senders_of_two_instances_send_each_mail_once(
    postgres_url: str, smtp_server: SmtpServer
) -> None:
    url = _emptied_postgres(postgres_url)
    engines = [database.make_engine(url) for _ in range(2)]
    factories = [database.make_session_factory(engine) for engine in engines]
    queue(factories[0])
    # Two workers per instance, small batches, all starting at once: many claims collide.
    senders = [
        Sender(f, SmtpAddress.parse(smtp_server.url), "lab@example.org", batch=3)
        for f in factories
        for _ in range(2)
    ]
    barrier = threading.Barrier(len(senders))

    def work(sender: Sender) -> None:
        barrier.wait()
        sender.run_until_idle()

    threads = [threading.Thread(target=work, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_each_arrived_once(smtp_server, url)
    for engine in engines:
        engine.dispose()


@pytest.mark.postgres
def test_two_running_services_share_the_outbox(
    postgres_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    url = _emptied_postgres(postgres_url)
    apps = [
        create_app(
            make_settings(
                tmp_path / str(i), url, smtp_url=smtp_server.url, mail_from="lab@example.org"
            )
        )
        for i in range(2)
    ]
    with TestClient(apps[0]), TestClient(apps[1]):
        queue(apps[0].state.sessions)  # the commit wakes the first; the second polls
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with apps[1].state.sessions() as session:
                if service.counts(session)[MailState.SENT] == MAILS:
                    break
            time.sleep(0.1)
    assert_each_arrived_once(smtp_server, url)
