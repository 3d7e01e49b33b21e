"""Mail throughput: how many mails per second the outbox sender hands to a local SMTP server
(aiosmtpd on this machine), on a migrated SQLite database.

Baseline (same run): the same messages sent straight over one smtplib connection, without
the outbox — the least any sender needs. The difference is the price of never losing a mail:
a claim, a commit per mail and a read of its row.

    .venv/bin/python bench/mail_outbox.py --mails 200 --runs 5
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from librarylab import database
from mail import service
from mail.sender import Sender
from mail.smtp import Letter, SmtpAddress, build_message
from tests.mail.smtp_server import SmtpServer

TEXT = "Guten Tag,\n\nIhr Besuch im LibraryLab ist bestätigt.\n" * 5
HTML = "<p>Guten Tag,</p><p>Ihr Besuch im LibraryLab ist <b>bestätigt</b>.</p>" * 5


def outbox_run(server: SmtpServer, mails: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        engine = database.make_engine(f"sqlite:///{folder}/bench.sqlite3")
        database.upgrade(engine)
        sessions = database.make_session_factory(engine)
        with database.transaction(sessions) as session:
            for i in range(mails):
                service.enqueue(
                    session,
                    to=f"gast{i}@example.org",
                    subject=f"Besuch {i}",
                    text=TEXT,
                    html=HTML,
                    language="de",
                )
        sender = Sender(sessions, SmtpAddress.parse(server.url), "lab@example.org")
        started = time.perf_counter()
        sender.run_until_idle()
        elapsed = time.perf_counter() - started
        engine.dispose()
    return mails / elapsed


def direct_run(server: SmtpServer, mails: int) -> float:
    letters = [
        Letter(
            f"<{i}@bench>",
            "lab@example.org",
            f"gast{i}@example.org",
            f"Besuch {i}",
            TEXT,
            HTML,
            "de",
        )
        for i in range(mails)
    ]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
        for letter in letters:
            smtp.send_message(build_message(letter))
    return mails / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    server = SmtpServer()
    server.start()
    try:
        outbox = [outbox_run(server, args.mails) for _ in range(args.runs)]
        direct = [direct_run(server, args.mails) for _ in range(args.runs)]
    finally:
        server.stop()
    assert len(server.messages) == 2 * args.mails * args.runs, "a mail went missing"
    print(f"{args.mails} mails, {args.runs} runs, median of runs:")
    print(f"  outbox sender (SQLite):   {statistics.median(outbox):7.0f} mails/s")
    print(f"  smtplib alone (baseline): {statistics.median(direct):7.0f} mails/s")


if __name__ == "__main__":
    main()
