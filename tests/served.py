"""A real ``librarylab serve`` process on SQLite, for tests and benchmarks that need the
whole service: killed with SIGKILL, restarted, driven over HTTP or in a browser."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

from tests.librarylab.test_cli import LIBRARYLAB, _env, run
from tests.services import OctoPrint, free_port, wait_for_port

PASSWORD = "served-password-1"


class Served:
    """The service in ``folder``, with an admin ``ada`` (password ``PASSWORD``) and a token."""

    def __init__(self, folder: Path, **settings: str) -> None:
        self.env = _env(folder, f"sqlite:///{folder / 'lab.sqlite3'}") | {
            f"LIBRARYLAB_{name.upper()}": value for name, value in settings.items()
        }
        added = run(["user", "add", "ada", "--role", "admin"], self.env, PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        self.token = run(["token", "create", "ada"], self.env).stdout.splitlines()[-1]
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()  # kept across restarts, so open pages reconnect
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        port = self.port
        self.process = subprocess.Popen(
            [LIBRARYLAB, "serve", "--port", str(port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, timeout=30)

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a power cut would do."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None

    def written_bytes(self) -> int:
        """What the service process has written so far, to files and sockets (``wchar``)."""
        assert self.process is not None
        io = Path(f"/proc/{self.process.pid}/io").read_text()
        return next(int(line.split()[1]) for line in io.splitlines() if line.startswith("wchar"))

    def peak_memory_kb(self) -> int:
        """The service process's peak resident memory (VmHWM), in KiB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if "VmHWM" in line)

    def exchange(self, head: str, body: Iterable[bytes]) -> tuple[int, bytes, int]:
        """Send a request head, then ``body`` until the service answers (as a client that
        reads while it sends would stop); the status, the answer as far as it came, and the
        bytes of body sent."""
        sent = 0
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
            sock.sendall(head.encode())
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break
                try:
                    sock.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
            answer = b""
            try:
                while not _complete(answer) and (part := sock.recv(65536)):
                    answer += part
            except ConnectionResetError:
                pass  # the service closed the connection with body left unread
        return int(answer.split(b" ", 2)[1]), answer, sent

    def post(self, path: str, **kwargs: Any) -> httpx2.Response:
        """A POST whose refusal is an answer, not a test failure."""
        return httpx2.post(
            self.base + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx2.request(
            method,
            self.base + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )
        assert answer.status_code < 400, answer.text
        return answer.json() if answer.content else None

    def add_printer(self, octoprint: OctoPrint, name: str = "Prusa") -> int:
        """Register ``octoprint`` as a printer; its id."""
        body = {"name": name, "url": octoprint.url, "api_key": octoprint.api_key}
        return int(self.api("POST", "/api/printers", json=body)["id"])

    def add_file(self, content: bytes, filename: str = "boat.gcode", name: str = "") -> int:
        """Upload a demo G-code file; its id."""
        return int(
            self.api(
                "POST",
                "/api/print-files",
                data={"name": name} if name else {},
                files={"file": (filename, content, "application/octet-stream")},
            )["id"]
        )


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response (one with a Content-Length)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:] if found else ():
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def running_visit(local: datetime, **fields: Any) -> dict[str, Any]:
    """A confirmed visit of ``local``'s day whose hands-on block started two minutes before
    ``local`` and runs 100 minutes more (the visit's body for ``POST /api/visits``)."""
    minutes = local.hour * 60 + local.minute

    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    return {
        "date": local.date().isoformat(),
        "start": hhmm(minutes - 30),
        "end": hhmm(minutes + 150),
        "hands_on_start": hhmm(minutes - 2),
        "hands_on_end": hhmm(minutes + 100),
        "status": "confirmed",
        **fields,
    }
