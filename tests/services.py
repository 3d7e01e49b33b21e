"""Real servers for the test suite, started on 127.0.0.1 on free ports in temp dirs."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2

# Debian's Chromium, headless, talking to nothing but this machine (see shared notes).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(
            f"PostgreSQL's {name} is missing: 'make test' installs it (apt-get install postgresql)"
        )
    return found[-1]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields its SQLAlchemy URL (database ``postgres``).

    PostgreSQL refuses to run as root, so as root the cluster belongs to ``postgres``
    and lives in its own temp dir (pytest's are private to root).
    """
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix="librarylab-pg-"))
    if as_root:
        shutil.chown(workdir, "postgres", "postgres")
    data = workdir / "data"
    port = free_port()
    _run(
        [*prefix, _postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "lab", "--no-sync"]
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(
        [
            *prefix,
            _postgres_bin("pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(workdir / "log"),
            "-w",
            "start",
        ]
    )
    try:
        yield f"postgresql+psycopg://lab@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, _postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def hung_server() -> Iterator[str]:
    """A server that accepts connections and never answers (OctoPrint cannot be made to do
    that); yields its URL."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        hung.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(hung.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{hung.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for connection in held:
            connection.close()
        hung.close()


@dataclass
class LittleServer:
    """A plain HTTP server standing in for some other service; it records what it received."""

    url: str
    received: list[dict[str, str]] = field(default_factory=list)  # headers of each request


@contextmanager
def little_server(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> Iterator[LittleServer]:
    """Answers every request with ``status``, ``headers`` and ``body``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    little = LittleServer(f"http://127.0.0.1:{server.server_address[1]}")

    class Answer(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            little.received.append(dict(self.headers.items()))
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Answer
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield little
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _mosquitto_bin() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("mosquitto is missing: 'make test' installs it (apt-get install mosquitto)")


class Mosquitto:
    """A Mosquitto broker on 127.0.0.1 that tests may kill and start again."""

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        *,
        port: int | None = None,
        config: str | None = None,
    ) -> None:
        """``users`` (name → password) turn anonymous access off; their hashed password file
        is ``password_file``. ``config`` replaces the generated listener and access lines by
        the caller's (e.g. a TLS listener on ``port`` from ``deploy/mosquitto``)."""
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            "user root",
            f"log_dest file {workdir / 'mosquitto.log'}",
        ]
        if users:
            passwords = workdir / "passwords"
            passwords.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
            subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True)
        if config is not None:
            lines = [*lines[1:], config]
        elif users:
            lines += ["allow_anonymous false", f"password_file {workdir / 'passwords'}"]
        else:
            lines.append("allow_anonymous true")
        self.config = workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.workdir / "passwords"

    def use_acl(self, acl: str) -> None:
        """Start with ``acl`` as the acl_file (call before ``start``)."""
        (self.workdir / "acl").write_text(acl)
        with self.config.open("a") as config:
            config.write(f"acl_file {self.workdir / 'acl'}\n")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_mosquitto_bin(), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


OCTOPRINT_VENV = Path(
    os.environ.get("LIBRARYLAB_OCTOPRINT_VENV", Path.home() / ".cache/librarylab/octoprint-1.11.8")
)
_OCTOPRINT_CONFIG = """\
server:
  firstRun: false
  ignoreIncompleteStartup: true
  onlineCheck: {enabled: false}
  pluginBlacklist: {enabled: false}
  pythonEolCheck: {enabled: false}
serial:
  port: VIRTUAL
  baudrate: 115200
  autoconnect: true
plugins:
  _disabled: [announcements, discovery, errortracking, health_check, pluginmanager,
              softwareupdate, tracking]
  virtual_printer:
    enabled: true
    simulated_errors: []
"""


class OctoPrint:
    """A real OctoPrint with its Virtual Printer on 127.0.0.1, offline and non-interactive."""

    def __init__(self, workdir: Path, api_key: str) -> None:
        self.workdir = workdir
        self.api_key = api_key
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        executable = OCTOPRINT_VENV / "bin" / "octoprint"
        if not executable.exists():
            raise RuntimeError(f"OctoPrint is missing in {OCTOPRINT_VENV}: 'make test' installs it")
        self.executable = executable
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(_OCTOPRINT_CONFIG)
        hashed = subprocess.run(
            [
                str(OCTOPRINT_VENV / "bin" / "python"),
                "-c",
                "from passlib.hash import pbkdf2_sha256; print(pbkdf2_sha256.hash('lab-password'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (workdir / "users.yaml").write_text(
            "_version: 2\nlab:\n  active: true\n  groups: [admins, users]\n"
            f"  password: '{hashed}'\n  apikey: {api_key}\n  permissions: []\n  settings: {{}}\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        command = [
            str(self.executable),
            "serve",
            "--basedir",
            str(self.workdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if os.geteuid() == 0:
            command.append("--iknowwhatimdoing")
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # An interim server answers 404 while starting: wait for a real 200 with the key.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answer = httpx2.get(
                    f"{self.url}/api/version", timeout=2, headers={"X-Api-Key": self.api_key}
                )
                if answer.status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"OctoPrint did not start within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no events (like a power cut of the OctoPrint host)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Ask OctoPrint directly (what the printer really did, independent of the service)."""
        answer = httpx2.request(
            method, self.url + path, headers={"X-Api-Key": self.api_key}, timeout=5, **kwargs
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def send(self, command: str) -> None:
        self.api("POST", "/api/printer/command", json={"command": command})

    def prints_of(self, name: str) -> dict[str, Any]:
        """OctoPrint's own count of finished and failed prints of an uploaded file; none for
        a file OctoPrint does not have (a job claimed, then never sent)."""
        try:
            info = self.api("GET", f"/api/files/local/{name}")
        except httpx2.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return {}
            raise
        prints: dict[str, Any] = info.get("prints") or {}
        return prints

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class Prometheus:
    """A Prometheus server on 127.0.0.1 that scrapes one target every second."""

    def __init__(self, workdir: Path, target: str, token: str, job: str = "librarylab") -> None:
        """``target`` is host:port; ``token`` goes out as the scrape's bearer token."""
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).exists():
            raise RuntimeError(
                "prometheus is missing: 'make test' installs it (apt-get install prometheus)"
            )
        self.binary = binary
        self.workdir = workdir
        self.job = job
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "prometheus.log"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "token").write_text(token)
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            f"  - job_name: {job}\n"
            "    authorization:\n"
            "      type: Bearer\n"
            f"      credentials_file: {workdir / 'token'}\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,  # the child keeps its own copy of the file
            )
        wait_for_port(self.port, timeout=30)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query through the HTTP API."""
        answer = httpx2.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, timeout: float = 60) -> list[dict[str, Any]]:
        """The first non-empty result of ``promql`` (Prometheus scrapes once a second)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None
